// Module resolution hook (see register.js): `uvu` resolves to the reporting wrapper,
// except inside the wrapper itself, which imports the real package.
const wrapper = new URL('./uvu-reporting.js', import.meta.url).href;

export async function resolve(specifier, context, nextResolve) {
  if (specifier === 'uvu' && context.parentURL !== wrapper) return { url: wrapper, shortCircuit: true };
  return nextResolve(specifier, context);
}
