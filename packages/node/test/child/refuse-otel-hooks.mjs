// Module resolve hook (registered by refuse-otel.mjs): any attempt to load
// an @opentelemetry package fails loudly, so a child that completes its work
// proves the package was never imported.
export async function resolve(specifier, context, next) {
  if (specifier.startsWith('@opentelemetry/')) throw new Error(`OTEL_IMPORTED: ${specifier} from ${context.parentURL}`)
  return next(specifier, context)
}
