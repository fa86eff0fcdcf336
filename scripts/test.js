'use strict'

// `npm test`: jest (extra arguments pass through to it), then `cargo test`. Both always run
// (a jest failure must not hide the Rust tests' result), their output streams through, and
// a short summary at the end says how each did and which test requirements (Chromium, kcat,
// ...; see __test__/requirements.js) were installed or skipped. Exits non-zero if either failed.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawn } = require('node:child_process')

const ROOT = path.resolve(__dirname, '..')
const { LOG_ENV, readLog, summaryLines } = require(path.join(ROOT, '__test__', 'requirements'))

const argv = process.argv.slice(2)
const work = fs.mkdtempSync(path.join(os.tmpdir(), 'samsa-npm-test-'))
const requirementLog = path.join(work, 'requirements.jsonl')
const jestJson = path.join(work, 'jest.json')
const env = { ...process.env, [LOG_ENV]: requirementLog }

/** Spawns a command with inherited stdio (stdout passes through `onStdout` when given). */
function run(cmd, args, { onStdout } = {}) {
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['inherit', onStdout ? 'pipe' : 'inherit', 'inherit'] })
    if (onStdout) {
      let rest = ''
      child.stdout.on('data', (d) => {
        process.stdout.write(d)
        rest += d
        const lines = rest.split('\n')
        rest = lines.pop()
        lines.forEach(onStdout)
      })
      child.stdout.on('end', () => rest && onStdout(rest))
    }
    child.on('error', (err) => resolve({ code: null, error: err }))
    child.on('close', (code, signal) => resolve({ code, signal }))
  })
}

async function jest() {
  // Jest's counts, for the summary, unless the caller asked for JSON output of their own.
  const noJson = argv.some((a) => /^--(json|outputFile|listTests|showConfig|help|version)\b/.test(a))
  const extra = noJson ? [] : ['--json', `--outputFile=${jestJson}`]
  const r = await run(process.execPath, [path.join(ROOT, 'node_modules', 'jest', 'bin', 'jest.js'), ...extra, ...argv])
  let counts = null
  try {
    const j = JSON.parse(fs.readFileSync(jestJson, 'utf8'))
    // A suite that failed to load has no tests: count it as one failure.
    counts = { passed: j.numPassedTests, failed: j.numFailedTests + j.numRuntimeErrorTestSuites, skipped: j.numPendingTests + j.numTodoTests }
  } catch {}
  return { ...r, counts }
}

async function cargoTest() {
  const counts = { passed: 0, failed: 0, skipped: 0 }
  let seen = false
  const r = await run('cargo', ['test'], {
    onStdout(line) {
      const m = /^test result: \w+\. (\d+) passed; (\d+) failed; (\d+) ignored/.exec(line)
      if (!m) return
      seen = true
      counts.passed += Number(m[1])
      counts.failed += Number(m[2])
      counts.skipped += Number(m[3])
    },
  })
  return { ...r, counts: seen ? counts : null }
}

function describe(name, r) {
  const ok = r.code === 0
  const how = r.error ? `could not start: ${r.error.message}` : r.signal ? `killed by ${r.signal}` : ok ? '' : `exit code ${r.code}`
  const counts = r.counts ? `${r.counts.passed} passed, ${r.counts.failed} failed, ${r.counts.skipped} skipped` : ''
  const detail = [how, counts].filter(Boolean).join('; ')
  return `${name.padEnd(11)} ${ok ? 'passed' : 'FAILED'}${detail ? ` (${detail})` : ''}`
}

async function main() {
  const results = [['jest', await jest()]]
  console.log('\n$ cargo test')
  results.push(['cargo test', await cargoTest()])

  const requirementLines = summaryLines(readLog(requirementLog))
  const out = ['', '== npm test summary ==', ...results.map(([n, r]) => describe(n, r))]
  if (requirementLines.length > 0) out.push('test requirements:', ...requirementLines.map((l) => `  ${l}`))
  if (requirementLines.some((l) => l.startsWith('SKIPPED'))) {
    out.push('  (tests above were SKIPPED, not passed: without CI set a missing requirement skips; with CI set it fails)')
  }
  // One closing line over both runners, when both reported their counts.
  if (results.every(([, r]) => r.counts)) {
    const sum = (k) => results.reduce((n, [, r]) => n + r.counts[k], 0)
    out.push(`tests: ${sum('passed')} passed, ${sum('failed')} failed, ${sum('skipped')} skipped`)
  }
  console.log(out.join('\n'))
  fs.rmSync(work, { recursive: true, force: true })
  process.exitCode = results.every(([, r]) => r.code === 0) ? 0 : 1
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 1
})
