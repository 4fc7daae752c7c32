/**
 * `server.connection(id)` for a connection this server does not hold: a
 * handle whose calls go through the cluster to the node that holds it (or
 * reject with `ConnectionClosedError` when there is no cluster, or no such
 * connection).
 */
import { ConnectionClosedError, type CallOptions, type CallScope, type Notify, type Remote } from '@wirecall/core'
import { createProxy } from '@wirecall/core/internal'
import type { Cluster, ConnectionHandle, NodeHandle } from './cluster.js'

export function remoteHandle<ClientService>(
  id: string,
  cluster: Cluster | undefined,
  encodeNotification: (path: string, args: unknown[]) => Uint8Array,
): ConnectionHandle<ClientService> {
  const call = (path: string, args: unknown[], options?: CallOptions): Promise<unknown> =>
    cluster ? cluster.call(id, path, args, options) : Promise.reject(new ConnectionClosedError(`no connection ${id} on this server`))
  const notify = createProxy({
    invoke: (path, args) => void cluster?.publish({ ids: [id] }, encodeNotification(path, args)),
  }) as Notify<ClientService>
  const scope = (options?: CallOptions): CallScope<ClientService> => ({
    remote: createProxy({ invoke: (path, args) => call(path, args, options) }) as Remote<ClientService>,
    notify,
  })
  const { remote } = scope()
  return { id, remote, notify, with: scope }
}

/** `server.node(id)`: another node's service (or any node's that offers the method, without an id). */
export function nodeHandle<NodeService>(node: string | undefined, cluster: Cluster | undefined): NodeHandle<NodeService> {
  const scope = (options?: CallOptions) => ({
    remote: createProxy({
      invoke: (path, args) => cluster
        ? cluster.callNode(node, path, args, options)
        : Promise.reject(new ConnectionClosedError('this server is not in a cluster: there are no other nodes to call')),
    }) as Remote<NodeService>,
  })
  return { node, remote: scope().remote, with: scope }
}
