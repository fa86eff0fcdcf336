'use strict'

const path = require('node:path')
const { execFileSync } = require('node:child_process')
const { ROOT } = require('./helpers')

test('index.d.ts types kafkajs-style usage of the whole surface', () => {
  const tsc = path.join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc')
  const file = path.join(__dirname, 'types', 'usage.ts')
  const out = (() => {
    try {
      execFileSync(process.execPath, [tsc, '--noEmit', '--strict', '--target', 'es2020', '--module', 'commonjs', '--types', 'node', file], { cwd: ROOT, encoding: 'utf8' })
      return ''
    } catch (e) {
      return `${e.stdout}${e.stderr}`
    }
  })()
  expect(out).toBe('')
})
