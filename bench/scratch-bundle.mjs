import { bundleSize } from './lib/bundle.mjs'
import * as impl from './impl/wirecall.mjs'
const src = process.argv[2] ? (await import('node:fs')).readFileSync(process.argv[2],'utf8') : impl.browserEntry
const r = await bundleSize(src)
console.log('gz', r.gzBytes, 'min', r.minBytes)
for (const m of r.largestModules) console.log(String(m.renderedBytes).padStart(7), m.id)
import { writeFileSync } from 'node:fs'
writeFileSync('/tmp/page.js', r.code)
