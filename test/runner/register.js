// Preloaded into every suite's process by test/run.js (`node --import`): routes the
// suites' `import ... from 'uvu'` to uvu-reporting.js. uvu 0.5 runs a suite's
// before/after hooks inside a try/finally whose `return` discards the hook's error, so a
// suite whose `before` throws printed only "(0 / N)" and never why.
import { register } from 'node:module';

register(new URL('./resolve-uvu.js', import.meta.url));
