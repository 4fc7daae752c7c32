/**
 * The short mode of the fuzz script: 20,000 hostile frames of every
 * kind to a server in a child process with Node's default
 * unhandled-rejection behaviour; afterwards the child must still be alive,
 * answer a normal client correctly, have Object.prototype untouched and its
 * memory back within a bound. The full run is `npm run fuzz` (1,000,000
 * frames, not a test).
 *
 * The seed is fixed so the test is deterministic; set WIRECALL_FUZZ_SEED to
 * try another one. A failure names the kind of frame, step seed and the
 * command that replays it.
 */
import { expect, test } from 'vitest'
import { spawn } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { assertDistFresh } from './child-harness.js'

const script = fileURLToPath(new URL('../fuzz/fuzz.mjs', import.meta.url))
const repoRoot = fileURLToPath(new URL('../../../', import.meta.url))
const seed = process.env.WIRECALL_FUZZ_SEED ?? '20240808'

interface FuzzResult {
  ok: boolean
  seed: number
  frames: number
  seconds: number
  checks: { check: string; ok: boolean; detail: string }[]
  failures: { what: string; kind: string; step: number; stepSeed: number; signature: string; reproduce: string }[]
}

function runFuzz(args: string[], timeoutMs: number): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [script, ...args], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d))
    child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`fuzz script did not finish within ${timeoutMs} ms:\n${stdout.slice(-4000)}`))
    }, timeoutMs)
    child.once('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

test('20,000 hostile frames: the child survives, answers right, prototypes untouched, memory back', async () => {
  assertDistFresh()
  const { code, stdout, stderr } = await runFuzz(['--short', '--json', '--quiet', '--seed', seed, '--max-failures', '3'], 60_000)
  const line = stdout.split('\n').find((l) => l.startsWith('FUZZ-RESULT '))
  expect(line, `no FUZZ-RESULT line; exit ${code}\n${stdout.slice(-4000)}\n${stderr.slice(-4000)}`).toBeDefined()
  const result = JSON.parse(line!.slice('FUZZ-RESULT '.length)) as FuzzResult
  const findings = result.failures.map((f) => `${f.what}: kind ${f.kind} (step ${f.step}, step seed ${f.stepSeed}) ${f.signature}\n  reproduce: ${f.reproduce}`)
  expect(findings, `the fuzzer (seed ${result.seed}) found problems:\n${stdout.slice(-6000)}`).toEqual([])
  expect(result.checks.filter((c) => !c.ok)).toEqual([])
  expect(result.frames).toBeGreaterThanOrEqual(20_000)
  expect(result.ok).toBe(true)
  expect(code).toBe(0)
}, 90_000)
