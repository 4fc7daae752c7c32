/**
 * Only explicitly exposed members are reachable. Every refused path must give
 * NotFoundError *without running anything* on the server: spies prove that
 * handlers and getters were never touched.
 */
import { describe, expect, test, vi } from 'vitest'
import { ErrorCode, NotFoundError, Router, expose, service } from '../src/index.js'
import { pair } from './harness.js'

const touched = vi.fn()

class Base {
  inherited(): string {
    touched('inherited')
    return 'inherited'
  }
  @expose baseExposed(): string {
    return 'base'
  }
}

class Calculator extends Base {
  calls = 0
  notAFunction = { x: 1 }
  @expose add(a: number, b: number): number {
    return a + b
  }
  @expose nested = service({ mul: (a: number, b: number) => a * b })
  hiddenField = service({ leak: () => touched('hiddenField.leak') })
  secret(): string {
    touched('secret')
    return 'secret'
  }
  override toString(): string {
    touched('toString')
    return 'calculator'
  }
  get value(): () => number {
    touched('getter value')
    return () => 42
  }
}

/** A subclass that overrides an exposed method without re-exposing it. */
class Sneaky extends Calculator {
  override add(): number {
    touched('Sneaky.add')
    return -1
  }
}

const getterTouched = vi.fn()
const plain = service({
  add: (a: number, b: number) => a + b,
  constructor: () => touched('own constructor'),
  prototype: { evil: () => touched('prototype.evil') },
  get lazy() {
    getterTouched()
    return () => touched('lazy')
  },
  [Symbol.iterator]: () => touched('symbol'),
  sub: { deeper: { fn: () => 'deep' } },
  data: 5,
})
Object.defineProperty(plain, '__proto__', { value: { evil: () => touched('own __proto__') }, enumerable: true })

const refused = [
  // unexposed, inherited and Object.prototype members
  'secret', 'inherited', 'toString', 'valueOf', 'hasOwnProperty', 'isPrototypeOf', 'propertyIsEnumerable',
  'toLocaleString', '__defineGetter__', '__lookupGetter__', '__defineSetter__', '__lookupSetter__',
  // the classic escape hatches
  'constructor', 'constructor.constructor', '__proto__', '__proto__.constructor', 'prototype', 'add.constructor',
  'add.call', 'add.apply', 'add.bind', 'add.prototype', 'nested.constructor', 'nested.__proto__', 'nested.toString',
  // getters, data members and fields that were not exposed
  'value', 'calls', 'notAFunction', 'hiddenField.leak', 'hiddenField',
  // a sub-service is not callable itself
  'nested',
  // symbol-looking names and empty segments
  'Symbol(Symbol.iterator)', '@@iterator', 'Symbol.iterator',
  'a..b', '.add', 'add.', '.', '..', 'nested..mul', 'nested.mul.', '.nested.mul',
  // near misses
  ' add', 'add ', 'ADD', 'nested.mul.x', 'missing', 'missing.deeper',
]

describe('exposed class service', () => {
  test.each(refused)('%j is NotFoundError and nothing runs', async (path) => {
    touched.mockClear()
    const getter = vi.spyOn(Calculator.prototype as unknown as { value: number }, 'value', 'get')
    const { client } = pair({ service: new Calculator() })
    const err = await client.call(path, [1, 2]).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(NotFoundError)
    expect((err as NotFoundError).code).toBe(ErrorCode.NOT_FOUND)
    expect(touched).not.toHaveBeenCalled()
    expect(getter).not.toHaveBeenCalled()
  })

  test('exposed members stay reachable (the refusals above are not blanket)', async () => {
    const { client } = pair<Calculator>({ service: new Calculator() })
    expect(await client.remote.add(3, 4)).toBe(7)
    expect(await client.remote.nested.mul(3, 4)).toBe(12)
    expect(await client.remote.baseExposed()).toBe('base')
  })

  test('an override that is not exposed is not reachable, even though its parent was', async () => {
    touched.mockClear()
    const { client } = pair({ service: new Sneaky() })
    await expect(client.call('add', [1, 2])).rejects.toBeInstanceOf(NotFoundError)
    expect(touched).not.toHaveBeenCalled()
  })
})

describe('service({...}) object', () => {
  const refusedPlain = [
    'constructor', '__proto__', '__proto__.evil', 'prototype.evil', 'prototype', 'lazy', 'toString', 'valueOf',
    'hasOwnProperty', 'Symbol(Symbol.iterator)', 'data', 'sub', 'sub.deeper', 'sub..deeper.fn', 'sub.deeper.fn.',
    'add.call', 'add.constructor',
  ]
  test.each(refusedPlain)('%j is NotFoundError and nothing runs', async (path) => {
    touched.mockClear()
    getterTouched.mockClear()
    const { client } = pair({ service: plain })
    await expect(client.call(path, [])).rejects.toBeInstanceOf(NotFoundError)
    expect(touched).not.toHaveBeenCalled()
    expect(getterTouched).not.toHaveBeenCalled()
  })

  test('functions and nested plain objects are reachable', async () => {
    const { client } = pair<typeof plain>({ service: plain })
    expect(await client.remote.add(1, 2)).toBe(3)
    expect(await client.remote.sub.deeper.fn()).toBe('deep')
  })

  test('class instances inside a service open only their exposed members', async () => {
    touched.mockClear()
    const api = service({ calc: new Calculator() })
    const { client } = pair<typeof api>({ service: api })
    expect(await client.remote.calc.add(2, 2)).toBe(4)
    await expect(client.call('calc.secret', [])).rejects.toBeInstanceOf(NotFoundError)
    await expect(client.call('calc.constructor', [])).rejects.toBeInstanceOf(NotFoundError)
    expect(touched).not.toHaveBeenCalled()
  })

  test('arrays and maps inside a service expose none of their methods', async () => {
    const api = service({ list: [1, 2, 3], map: new Map([['a', 1]]) })
    const { client } = pair({ service: api })
    await expect(client.call('list.push', [4])).rejects.toBeInstanceOf(NotFoundError)
    await expect(client.call('map.clear', [])).rejects.toBeInstanceOf(NotFoundError)
    await expect(client.call('list.length', [])).rejects.toBeInstanceOf(NotFoundError)
    expect(api.list).toEqual([1, 2, 3])
    expect(api.map.size).toBe(1)
  })
})

describe('decorator-free expose(Class, [...])', () => {
  class Legacy {
    add(a: number, b: number): number {
      return a + b
    }
    hidden(): void {
      touched('Legacy.hidden')
    }
  }
  expose(Legacy, ['add'])

  test('listed methods are reachable, others are not', async () => {
    touched.mockClear()
    const { client } = pair<Legacy>({ service: new Legacy() })
    expect(await client.remote.add(2, 5)).toBe(7)
    await expect(client.call('hidden', [])).rejects.toBeInstanceOf(NotFoundError)
    expect(touched).not.toHaveBeenCalled()
  })

  test.each(['constructor', '__proto__', 'prototype', ''])('refuses to expose %j', (name) => {
    class Other {}
    expect(() => expose(Other, [name])).toThrow(TypeError)
  })
})

describe('Router', () => {
  test('routes by name and mounts sub-routers; its own methods are not routes', async () => {
    const removeSpy = vi.spyOn(Router.prototype, 'remove')
    const namesSpy = vi.spyOn(Router.prototype, 'names')
    const inner = new Router().add('sub', (a: number, b: number) => a - b)
    const router = new Router().add('add', (a: number, b: number) => a + b).mount('subtraction', inner)
    const { client } = pair({ service: router })
    expect(await client.call('add', [3, 4])).toBe(7)
    expect(await client.call('subtraction.sub', [4, 3])).toBe(1)
    for (const path of ['remove', 'names', 'add.call', 'lookup', 'entries', 'subtraction.remove', 'constructor', 'mount']) {
      await expect(client.call(path, ['add']), path).rejects.toBeInstanceOf(NotFoundError)
    }
    expect(removeSpy).not.toHaveBeenCalled()
    expect(namesSpy).not.toHaveBeenCalled()
    expect(router.names()).toEqual(['add', 'subtraction'])
  })

  test('composes on the fly: add and remove while connected', async () => {
    const router = new Router()
    const { client } = pair({ service: router })
    await expect(client.call('late', [])).rejects.toBeInstanceOf(NotFoundError)
    router.add('late', () => 'here')
    expect(await client.call('late', [])).toBe('here')
    expect(router.remove('late')).toBe(true)
    await expect(client.call('late', [])).rejects.toBeInstanceOf(NotFoundError)
  })

  test.each(['', 'a.b', '#1', '__proto__', 'constructor', 'prototype'])('refuses the route name %j', (name) => {
    expect(() => new Router().add(name, () => 1)).toThrow(TypeError)
  })

  test('refuses targets that are neither functions nor objects', () => {
    expect(() => new Router().add('x', 5 as unknown as object)).toThrow(TypeError)
    expect(() => new Router().add('x', null as unknown as object)).toThrow(TypeError)
  })
})

test('a session without a service answers every call with NotFoundError', async () => {
  const { client } = pair()
  await expect(client.call('anything', [])).rejects.toBeInstanceOf(NotFoundError)
})

test('decorating a static or private member is refused', () => {
  expect(() => {
    class Bad {
      @expose static nope(): void {}
    }
    void Bad
  }).toThrow(TypeError)
})
