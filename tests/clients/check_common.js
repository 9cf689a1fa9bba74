// What the two Node.js client checks (ioredis_check.js, node_redis_check.mjs)
// share: the limits, the check() printer, closing a client that must not have
// reported errors, and the runner that reads the arguments and bounds the
// whole run with a watchdog. CommonJS, so that both a CommonJS and an ES
// module script can load it.
'use strict';

const kTimeoutMs = 5000;
const kWatchdogMs = 30000;
const kPipelineCommands = 1000;

function check(condition, what) {
  if (!condition) throw new Error(`check failed: ${what}`);
  console.log(`  ok: ${what}`);
}

// Quits `client`, failing if it recorded any 'error' event (in
// client.clientErrors) on the way.
async function close(client) {
  if (client.clientErrors.length > 0) {
    throw new Error(`client reported: ${client.clientErrors.join('; ')}`);
  }
  await client.quit();
}

// Runs `checks(port, authPort, password)` with the script's three arguments
// after printing `banner`; exits 2 on a usage error and 1 on any failure or
// when the run is not finished within kWatchdogMs.
function runChecks(script, banner, checks) {
  const watchdog = setTimeout(() => {
    console.error(`  FAIL: not finished after ${kWatchdogMs} ms`);
    process.exit(1);
  }, kWatchdogMs);
  const main = async () => {
    if (process.argv.length !== 5) {
      console.error(`usage: node ${script} PORT AUTH_PORT PASSWORD`);
      return 2;
    }
    const [port, authPort, password] = process.argv.slice(2);
    console.log(banner);
    await checks(port, authPort, password);
    return 0;
  };
  main().then(
    (status) => {
      clearTimeout(watchdog);
      process.exitCode = status;
    },
    (error) => {
      console.error(`  FAIL: ${error.stack || error}`);
      process.exit(1);
    });
}

module.exports = { kTimeoutMs, kWatchdogMs, kPipelineCommands, check, close, runChecks };
