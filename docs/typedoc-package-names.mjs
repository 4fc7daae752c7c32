/**
 * TypeDoc plugin: name each entry point's module after its package
 * (`@wirecall/core`) instead of its path (`core/src`), so the reference
 * shows the names users import.
 */
import { readFileSync, existsSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { Converter, ReflectionKind } from 'typedoc'

/** The `name` of the nearest package.json above `file`. */
function packageName(file) {
  for (let dir = dirname(file); dir !== dirname(dir); dir = dirname(dir)) {
    const manifest = join(dir, 'package.json')
    if (existsSync(manifest)) return JSON.parse(readFileSync(manifest, 'utf8')).name
  }
  return undefined
}

export function load(app) {
  app.converter.on(Converter.EVENT_RESOLVE_BEGIN, (context) => {
    for (const mod of context.project.getChildrenByKind(ReflectionKind.Module)) {
      const file = context.getSymbolFromReflection(mod)?.declarations?.[0]?.getSourceFile().fileName
      const name = file && packageName(file)
      if (name) mod.name = name
    }
  })
}
