'use strict'

const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { ROOT } = require('./helpers')

// The strictest settings kafkajs 2.2.4's own usage file (types/tests.ts in its repository)
// passes against kafkajs's index.d.ts; that file also passes against samsa's with only its
// import changed.
const FLAGS = [
  '--noEmit', '--strict', '--target', 'es2020', '--module', 'commonjs', '--types', 'node',
  '--noUnusedLocals', '--exactOptionalPropertyTypes', '--noImplicitReturns', '--noFallthroughCasesInSwitch',
  '--noImplicitOverride', '--noPropertyAccessFromIndexSignature', '--isolatedModules', '--forceConsistentCasingInFileNames',
]

test('index.d.ts types kafkajs-style usage of the whole surface', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const file = path.join(__dirname, 'types', 'usage.ts')
  const out = (() => {
    try {
      execFileSync(process.execPath, [tsc, ...FLAGS, file], { cwd: ROOT, encoding: 'utf8' })
      return ''
    } catch (e) {
      return `${e.stdout}${e.stderr}`
    }
  })()
  expect(out).toBe('')
})
