/**
 * What a user gets from npm, checked from the tarballs:
 *
 * 1. `npm pack` of @wirecall/core, @wirecall/node and @wirecall/browser (built dist required:
 *    turbo builds them first, this workspace depends on all four).
 * 2. `publint --strict` and `attw --profile esm-only` on each tarball.
 * 2b. Each tarball holds README.md, LICENSE (the root one), dist and src only; package.json has
 *    engines, sideEffects, repository, keywords; each package README says "ESM only".
 * 3. Every ```js block of README.md is an examples/*.mjs file (run by packages/node's examples test).
 * 4. A fresh project (strict, `module: nodenext`) installs the tarballs (+ @types/node, the optional peer
 *    @opentelemetry/api, and zod for the validated-parameters examples, from the npm cache); every ```ts block of the root and package READMEs becomes its own file and is typechecked:
 *    - with Node types (lib ES2022 + @types/node): every block that does not import @wirecall/browser;
 *    - as a browser project (lib ES2022 + DOM, no Node types): every block that imports
 *      @wirecall/browser or only @wirecall/core;
 *    plus the fixtures in ./fixtures (`using` on references where the lib has `Symbol.dispose`).
 *    `skipLibCheck` is off, so the packages' .d.ts must compile under those libs too.
 *
 * Fails (exit 1) on the first broken step and prints what failed; errors in README blocks are
 * reported with their README.md line. Bounded: every child process has a timeout, and the whole
 * run is killed after DEADLINE_MS. Keeps its temp folder with KEEP=1.
 */
import { execFile } from 'node:child_process'
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'

const DEADLINE_MS = 300_000
const here = dirname(fileURLToPath(import.meta.url))
const root = join(here, '..')
const bin = (name) => join(root, 'node_modules', '.bin', name)
const PACKAGES = ['core', 'node', 'browser', 'redis', 'cli']
const started = Date.now()
const elapsed = () => `${((Date.now() - started) / 1000).toFixed(1)} s`

const deadline = setTimeout(() => {
  console.error(`packaging check: FAILED, still running after ${DEADLINE_MS / 1000} s`)
  killChildren()
  process.exit(1)
}, DEADLINE_MS)
deadline.unref()

/** Child processes still running: killed when the check ends early (failure or deadline). */
const children = new Set()
const killChildren = () => { for (const child of children) child.kill() }

/** Run a command; resolve with its output, or reject with it (and the command) on failure. */
function run(cmd, args, { cwd = root, timeout = 60_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = execFile(cmd, args, { cwd, timeout, maxBuffer: 16 << 20, env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' } },
      (err, stdout, stderr) => {
        children.delete(child)
        const output = `${stdout}${stderr}`.trim()
        if (err) reject(Object.assign(new Error(`${relative(root, cmd) || cmd} ${args.join(' ')} failed (${err.killed ? 'timed out' : `exit ${err.code}`}):\n${output}`), { output }))
        else resolve(output)
      })
    children.add(child)
  })
}

/** The ```<lang> blocks of a markdown file, with the line of their opening fence. */
export function codeBlocks(markdown, lang) {
  const blocks = []
  const lines = markdown.split('\n')
  for (let i = 0; i < lines.length; i++) {
    if (lines[i].trim() !== '```' + lang) continue
    const start = i
    const body = []
    while (++i < lines.length && lines[i].trim() !== '```') body.push(lines[i])
    if (i === lines.length) throw new Error(`README.md:${start + 1}: unterminated code block`)
    blocks.push({ line: start + 1, code: body.join('\n') + '\n' })
  }
  return blocks
}

const tmp = mkdtempSync(join(tmpdir(), 'wirecall-packaging-'))
let failed = false
try {
  // 1. Pack.
  const packed = JSON.parse(await run('npm', ['pack', '--json', '--silent', '--pack-destination', tmp, ...PACKAGES.flatMap((p) => ['-w', `packages/${p}`])]))
  const tarballs = PACKAGES.map((p) => join(tmp, packed.find((entry) => entry.name === `@wirecall/${p}`).filename))
  const license = readFileSync(join(root, 'LICENSE'), 'utf8')
  for (const p of PACKAGES) {
    const entry = packed.find((e) => e.name === `@wirecall/${p}`)
    const files = new Set(entry.files.map((f) => f.path))
    const problems = []
    for (const f of ['README.md', 'LICENSE', 'package.json', 'dist/index.js', 'dist/index.d.ts']) if (!files.has(f)) problems.push(`${f} missing`)
    for (const f of files) if (!/^(dist|src)\/|^(README\.md|LICENSE|package\.json)$/.test(f) || /\.test\./.test(f)) problems.push(`unexpected file ${f}`)
    const manifest = JSON.parse(readFileSync(join(root, 'packages', p, 'package.json'), 'utf8'))
    if (manifest.engines?.node !== '>=20') problems.push('engines.node is not ">=20"')
    if (manifest.sideEffects !== false) problems.push('sideEffects is not false')
    if (manifest.type !== 'module') problems.push('type is not "module"')
    if (manifest.license !== 'MIT') problems.push('license is not MIT')
    if (!manifest.repository?.url || manifest.repository.directory !== `packages/${p}`) problems.push('repository (url, directory) missing')
    if (!manifest.keywords?.length) problems.push('keywords missing')
    if (readFileSync(join(root, 'packages', p, 'LICENSE'), 'utf8') !== license) problems.push('LICENSE differs from the root LICENSE')
    if (!/ESM only/.test(readFileSync(join(root, 'packages', p, 'README.md'), 'utf8'))) problems.push('README.md does not say "ESM only"')
    if (problems.length) throw new Error(`@wirecall/${p}: ${problems.join('; ')}`)
  }
  console.log(`packed ${PACKAGES.join(', ')}: files and package.json fields ok (${elapsed()})`)

  // 2. Lint each tarball (in parallel with the install and typecheck below).
  const lint = Promise.all(tarballs.map(async (t, i) => {
    await run(bin('publint'), ['run', t, '--strict'])
    await run(bin('attw'), [t, '--profile', 'esm-only', '--format', 'ascii'], { timeout: 60_000 })
    console.log(`publint + attw: @wirecall/${PACKAGES[i]} ok (${elapsed()})`)
  }))
  lint.catch(() => {}) // awaited below; do not let an early rejection go unhandled

  // 3. A fresh project with the tarballs installed.
  const project = join(tmp, 'project')
  mkdirSync(join(project, 'readme'), { recursive: true })
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'wirecall-readme-check', private: true, type: 'module' }))
  await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', '--silent', ...tarballs, '@types/node@^20.19.0', '@opentelemetry/api@^1.9.0', 'zod@^4.6.7'], { cwd: project, timeout: 90_000 })
  console.log(`installed the tarballs into a fresh project (${elapsed()})`)

  const readme = readFileSync(join(root, 'README.md'), 'utf8')
  const blocks = codeBlocks(readme, 'ts').map((b) => ({ ...b, readme: 'README.md' }))
  if (blocks.length === 0) throw new Error('README.md has no ```ts blocks: the extraction is broken')
  for (const p of PACKAGES) {
    const own = codeBlocks(readFileSync(join(root, 'packages', p, 'README.md'), 'utf8'), 'ts')
    if (own.length === 0) throw new Error(`packages/${p}/README.md has no \`\`\`ts example`)
    blocks.push(...own.map((b) => ({ ...b, readme: `packages/${p}/README.md` })))
  }
  // A ```js block is a runnable example: it must be examples/<name>.mjs (which packages/node's
  // examples test runs) below its first line, `// <name>.mjs ...`.
  for (const { line, code } of codeBlocks(readme, 'js')) {
    const name = /^\/\/ ([\w-]+\.mjs)\b/.exec(code)?.[1]
    if (!name) throw new Error(`README.md:${line}: a \`\`\`js block must start with "// <name>.mjs", a file of examples/ (or be \`\`\`ts)`)
    let example
    try { example = readFileSync(join(root, 'examples', name), 'utf8') } catch { throw new Error(`README.md:${line}: examples/${name} does not exist`) }
    const body = (text) => text.slice(text.indexOf('\n') + 1).trimEnd()
    if (body(code) !== body(example)) throw new Error(`README.md:${line}: the block differs from examples/${name} (below their first lines)`)
  }
  const nodeFiles = []
  const browserFiles = []
  const readmeOf = new Map() // snippet file -> the README it comes from
  for (const { line, code, readme: from } of blocks) {
    const prefix = from === 'README.md' ? '' : `${from.split('/')[1]}-`
    const file = `readme/${prefix}L${line}.ts`
    readmeOf.set(`${prefix}L${line}`, from)
    writeFileSync(join(project, file), code)
    const browser = /from '@wirecall\/browser'/.test(code)
    const coreOnly = !browser && !/from '(@wirecall\/node|node:[^']+)'/.test(code) && /from '@wirecall\/core'/.test(code)
    if (!browser) nodeFiles.push(file)
    if (browser || coreOnly) browserFiles.push(file)
  }
  cpSync(join(here, 'fixtures'), join(project, 'fixtures'), { recursive: true })

  const base = {
    strict: true, target: 'ES2022', module: 'nodenext', moduleResolution: 'nodenext',
    noEmit: true, skipLibCheck: false, isolatedModules: true,
  }
  const configs = {
    'tsconfig.node.json': {
      compilerOptions: { ...base, lib: ['ES2022'], types: ['node'] },
      files: [...nodeFiles, 'fixtures/node-using.ts'],
    },
    'tsconfig.browser.json': {
      compilerOptions: { ...base, lib: ['ES2022', 'DOM'], types: [] },
      files: [...browserFiles, 'fixtures/browser.ts'],
    },
    'tsconfig.browser-disposable.json': {
      compilerOptions: { ...base, lib: ['ES2022', 'DOM', 'ESNext.Disposable'], types: [] },
      files: ['fixtures/browser-using.ts'],
    },
  }
  for (const [name, config] of Object.entries(configs)) writeFileSync(join(project, name), JSON.stringify(config, null, 2))

  const typecheck = await Promise.allSettled(Object.keys(configs).map((name) =>
    run(bin('tsc'), ['-p', name, '--pretty', 'false'], { cwd: project }).then(() => name)))
  const errors = []
  for (const [i, result] of typecheck.entries()) {
    const name = Object.keys(configs)[i]
    if (result.status === 'fulfilled') continue
    // readme/L123.ts(4,7): error ... -> README.md:126:7 (block at line 123, its 4th line)
    const output = (result.reason.output ?? String(result.reason)).replace(/^readme\/((?:\w+-)?L(\d+))\.ts\((\d+),(\d+)\)/gm,
      (_, name, block, line, col) => `${readmeOf.get(name)}:${Number(block) + Number(line)}:${col}`)
    errors.push(`tsc -p ${name} (${configs[name].compilerOptions.lib.join(' + ')}${configs[name].compilerOptions.types.length ? ' + @types/node' : ''}):\n${output}`)
  }
  if (errors.length) throw new Error(`README blocks or package types do not compile:\n\n${errors.join('\n\n')}`)
  console.log(`typechecked ${blocks.length} README blocks (root and packages) (${nodeFiles.length} with Node types, ${browserFiles.length} as browser code) and the fixtures (${elapsed()})`)

  await lint
  console.log(`packaging check: ok (${elapsed()})`)
} catch (err) {
  failed = true
  console.error(`\npackaging check: FAILED after ${elapsed()}\n${err.message}`)
} finally {
  killChildren()
  if (process.env.KEEP) console.log(`kept ${tmp}`)
  else rmSync(tmp, { recursive: true, force: true })
}
process.exit(failed ? 1 : 0)
