// The entry of the self-contained executable (scripts/build-sea.mjs): node with this CLI inside,
// bundled as one CommonJS file because a single executable application runs only that. It is
// its own command, so the credential_process lines `configure` writes run it without a script.
import { run } from './main.js'

run(process.argv.slice(2), { self: { node: process.execPath } }).then((code) => {
  process.exitCode = code
})
