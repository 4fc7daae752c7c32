/**
 * Compile-only tests: `Remote<T>` infers parameter types from schemas
 * (zod and valibot, through Standard Schema), handlers receive the schemas'
 * output types, result schemas type the result. Checked by `tsc`; never run.
 */
import * as z from 'zod'
import * as v from 'valibot'
import { expose, service, validated, type CallContext, type Remote } from '../src/index.js'

type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends (<T>() => T extends B ? 1 : 2) ? true : false
type Expect<T extends true> = T

const api = service({
  add: validated([z.number(), z.number()], (a, b) => {
    type _inA = Expect<Equal<typeof a, number>>
    return a + b
  }),
  // Input and output differ: the caller passes the input, the handler gets the output.
  length: validated([z.string().transform((s) => s.length)], (n) => {
    type _out = Expect<Equal<typeof n, number>>
    return n * 2
  }),
  // Trailing parameters whose schema accepts undefined may be left out.
  page: validated([v.string(), v.optional(v.number(), 1), z.boolean().optional()], (q, n, flag) => {
    type _n = Expect<Equal<typeof n, number>>
    type _flag = Expect<Equal<typeof flag, boolean | undefined>>
    return `${q}:${n}`
  }),
  named: validated([z.object({ a: z.number(), b: z.number().default(1) })], ({ a, b }) => a * b),
  asyncResult: validated({ params: [z.number()], result: z.number().transform(String) }, async (n) => n * 2),
  withCtx: validated({ params: [z.string()], context: true }, (ctx, s) => {
    type _ctx = Expect<Equal<typeof ctx, CallContext>>
    return `${ctx.path}${s}`
  }),
})
type Api = Remote<typeof api>

type _add = Expect<Equal<Api['add'], (a: number, b: number) => Promise<number>>>
type _length = Expect<Equal<Parameters<Api['length']>, [string]>>
type _lengthResult = Expect<Equal<ReturnType<Api['length']>, Promise<number>>>
type _page = Expect<Equal<Parameters<Api['page']>, [string, (number | undefined)?, (boolean | undefined)?]>>
type _named = Expect<Equal<Parameters<Api['named']>, [{ a: number; b?: number | undefined }]>>
// The result schema's output is what the caller gets.
type _result = Expect<Equal<ReturnType<Api['asyncResult']>, Promise<string>>>
// The context is wirecall's to pass, not the caller's.
type _ctx = Expect<Equal<Parameters<Api['withCtx']>, [string]>>

declare const remote: Api
// @ts-expect-error a string where the schema wants a number
void remote.add('1', 2)
// @ts-expect-error too many arguments
void remote.add(1, 2, 3)
// @ts-expect-error the first parameter is required
void remote.page()
void remote.page('q')

// @ts-expect-error the handler's parameters must accept what the schemas produce
validated([z.number()], (s: string) => s)
// @ts-expect-error a handler with a result schema must return that schema's input
validated({ params: [], result: z.number() }, () => 'not a number')

class Calculator {
  @expose({ params: [z.number(), z.number()] }) add(a: number, b: number): number { return a + b }
  @expose({ params: [z.string()], context: true }) where(ctx: CallContext, s: string): string { return ctx.path + s }
  @expose scaled = validated([z.number()], (n) => n * 10)
}
type Calc = Remote<Calculator>
type _calcAdd = Expect<Equal<Calc['add'], (a: number, b: number) => Promise<number>>>
type _calcWhere = Expect<Equal<Calc['where'], (s: string) => Promise<string>>>
type _calcScaled = Expect<Equal<Calc['scaled'], (n: number) => Promise<number>>>

class Mismatch {
  // @ts-expect-error the method takes a string, but the schema produces a number
  @expose({ params: [z.number()] }) bad(s: string): string { return s }
}
void Mismatch
