/**
 * TypeDoc plugin: name each entry point's module after its package
 * (`@wirecall/core`) instead of its path (`core/src`), so the reference
 * shows the names users import; a module without its own `@module` comment
 * is described by its package's `description`. (The engine's plumbing is
 * in `@wirecall/core/internal`, which is not an entry point here.)
 */
import { readFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Comment, Converter, ReflectionKind } from 'typedoc'

/** The nearest package.json above `file`, parsed. */
function manifestOf(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const path = join(dir, 'package.json')
    if (existsSync(path)) return JSON.parse(readFileSync(path, 'utf8'))
  }
  return undefined
}

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const mod of context.project.getChildrenByKind(ReflectionKind.Module)) {
      const file = context.getSymbolFromReflection(mod)?.declarations?.[0]?.getSourceFile().fileName
      const manifest = file && manifestOf(file)
      if (!manifest?.name) continue
      mod.name = manifest.name
      if (!mod.comment && manifest.description) mod.comment = new Comment([{ kind: 'text', text: manifest.description }])
    }
  })
}
