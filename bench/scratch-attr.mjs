import { build } from 'vite'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import { SourceMapConsumer } from 'source-map-js'
import * as impl from './impl/wirecall.mjs'
const ENTRY='virtual:e'
const outDir = mkdtempSync(join(tmpdir(), 'attr-'))
await build({ root: process.cwd(), configFile:false, logLevel:'error', mode:'production',
  plugins:[{name:'v', resolveId:(id)=>id===ENTRY?'\0'+ENTRY:null, load:(id)=>id==='\0'+ENTRY?(process.env.SRC??impl.browserEntry):null}],
  build:{outDir, emptyOutDir:true, minify:true, sourcemap:true, modulePreload:false, copyPublicDir:false, rollupOptions:{input:ENTRY, output:{entryFileNames:'entry.js'}}}})
const code = readFileSync(join(outDir,'entry.js'),'utf8')
const map = JSON.parse(readFileSync(join(outDir,'entry.js.map'),'utf8'))
const smc = new SourceMapConsumer(map)
const lines = code.split('\n'); const lineStart=[0]; for (const l of lines) lineStart.push(lineStart.at(-1)+l.length+1)
const owner = new Array(code.length).fill(null)
const maps=[]; smc.eachMapping(m=>maps.push(m))
maps.sort((a,b)=>a.generatedLine-b.generatedLine||a.generatedColumn-b.generatedColumn)
for (let i=0;i<maps.length;i++){ const m=maps[i]; const s=lineStart[m.generatedLine-1]+m.generatedColumn; const n=maps[i+1]; const e=n?lineStart[n.generatedLine-1]+n.generatedColumn:code.length; for(let k=s;k<e;k++) owner[k]=m.source }
const by=new Map(); for(let k=0;k<code.length;k++){const o=(owner[k]??'?').replace(/.*packages\//,''); if(!by.has(o)) by.set(o,[]); by.get(o).push(code[k])}
const total=gzipSync(code,{level:9}).length
console.log('total min',code.length,'gz',total)
const rows=[...by].map(([o,cs])=>{const s=cs.join(''); return [o,s.length,gzipSync(s,{level:9}).length]}).sort((a,b)=>b[1]-a[1])
let sg=0; for(const r of rows) sg+=r[2]
for(const [o,l,g] of rows) console.log(String(l).padStart(7),String(g).padStart(6),(g/sg*total/1000).toFixed(2).padStart(6),o)
rmSync(outDir,{recursive:true,force:true})
