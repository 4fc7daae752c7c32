// wirecall with metrics on (`observer: createMetrics()` on the server and the client), otherwise
// the same server and client as `wirecall`: the cost of observability on the hot path
// (issue 14's aim: within 5% of `wirecall` with metrics on; `wirecall` itself is metrics off).
import { createMetrics } from '@wirecall/core'
import * as base from './wirecall.mjs'

export const id = 'wirecall-metrics'
export const label = 'wirecall +metrics'
export const description = 'as wirecall, with createMetrics() observing the server and the client'
export const capabilities = {}

export const startServer = (options = {}) => base.startServer({ ...options, observer: createMetrics() })
export const createClient = (port, options = {}) => base.createClient(port, { ...options, observer: createMetrics() })
