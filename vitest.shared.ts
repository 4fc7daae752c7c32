/**
 * Shared vitest setup for every package.
 *
 * Why the transform: Vite 8 strips TypeScript with Oxc, which leaves TC39
 * (standard) decorators untouched, and Node 20 cannot parse them. Files that
 * use `@expose` are lowered by TypeScript itself first. Tests import `src`
 * through aliases so a clean clone needs no build.
 */
import ts from 'typescript'
import { fileURLToPath } from 'node:url'
import type { Plugin } from 'vite'

export function lowerDecorators(): Plugin {
  return {
    name: 'wirecall:lower-decorators',
    enforce: 'pre',
    transform(code, id) {
      if (!/\.tsx?$/.test(id) || !/^\s*@[A-Za-z_$]/m.test(code)) return null
      const out = ts.transpileModule(code, {
        fileName: id,
        compilerOptions: {
          target: ts.ScriptTarget.ES2022,
          module: ts.ModuleKind.ESNext,
          sourceMap: true,
          verbatimModuleSyntax: false,
        },
      })
      return { code: out.outputText, map: out.sourceMapText ?? null }
    },
  }
}

const root = (p: string) => fileURLToPath(new URL(p, import.meta.url))

/** Map package names to their sources so tests never need `dist/`. */
export const sourceAliases = {
  // More specific first: an alias also matches its name followed by a subpath.
  '@wirecall/core/internal': root('./packages/core/src/internal.ts'),
  '@wirecall/core/otel': root('./packages/core/src/otel.ts'),
  '@wirecall/core': root('./packages/core/src/index.ts'),
  '@wirecall/node': root('./packages/node/src/index.ts'),
  '@wirecall/browser': root('./packages/browser/src/index.ts'),
}
