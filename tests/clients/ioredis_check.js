// Client-compatibility check: ioredis 5.x (pinned in package.json).
//
// Usage: node ioredis_check.js PORT AUTH_PORT PASSWORD
//
// PORT is a fresh server without a password, AUTH_PORT one with
// `requirepass` set to PASSWORD; both on 127.0.0.1. Prints one line per
// check and exits 1 at the first error or mismatch. Clients connect at once
// (lazyConnect: false) and become ready only after ioredis's ready check, an
// INFO whose reply must say loading:0. An 'error' event fails the check, and
// clients never reconnect. The whole run is bounded by a watchdog.
'use strict';

const Redis = require('ioredis');
const version = require('ioredis/package.json').version;

const { kTimeoutMs, kPipelineCommands, check, close, runChecks } = require('./check_common.js');

function newClient(port, options = {}) {
  const client = new Redis({
    host: '127.0.0.1',
    port: Number(port),
    lazyConnect: false,
    enableReadyCheck: true,
    connectTimeout: kTimeoutMs,
    commandTimeout: kTimeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    reconnectOnError: () => false,
    ...options,
  });
  client.clientErrors = [];
  client.on('error', (error) => client.clientErrors.push(error));
  return client;
}

// Resolves once the client is ready (connected, handshake and INFO ready
// check done); rejects when it ends or reports an error first.
function ready(client) {
  return new Promise((resolve, reject) => {
    if (client.status === 'ready') return resolve(client);
    const timer = setTimeout(() => reject(new Error(`not ready after ${kTimeoutMs} ms`)),
                             kTimeoutMs);
    client.once('ready', () => { clearTimeout(timer); resolve(client); });
    client.once('error', (error) => { clearTimeout(timer); reject(error); });
    client.once('end', () => { clearTimeout(timer); reject(new Error('connection ended')); });
  });
}

async function connect(port, options) {
  return ready(newClient(port, options));
}

async function checkBasics(port) {
  const client = await connect(port);
  check(client.status === 'ready', 'connect: ready after the INFO ready check (loading:0)');
  check((await client.ping()) === 'PONG', 'PING -> PONG');
  check((await client.echo('hello')) === 'hello', 'ECHO round-trips');
  const info = await client.info();
  check(/^redis_version:/m.test(info) && /^loading:0\r?$/m.test(info),
        'INFO has redis_version and loading:0');
  const clientInfo = await client.client('INFO');
  // CLIENT SETINFO is Redis 7.2+; where the server records it, it must say
  // ioredis.
  if (/ lib-name=/.test(clientInfo)) {
    check(/ lib-name=ioredis /.test(clientInfo) && / lib-ver=\S+/.test(clientInfo),
          'CLIENT INFO shows lib-name=ioredis from CLIENT SETINFO');
  } else {
    console.log('  note: the server does not record CLIENT SETINFO (Redis < 7.2)');
  }
  await close(client);
}

async function checkStrings(port) {
  const client = await connect(port);
  check((await client.set('io:s', 'value')) === 'OK', 'SET -> OK');
  check((await client.get('io:s')) === 'value', 'GET returns the value');
  check((await client.get('io:missing')) === null, 'GET of a missing key -> null');
  check((await client.set('io:s', 'other', 'NX')) === null, 'SET NX on an existing key -> null');
  check((await client.set('io:s', 'v2', 'XX', 'GET')) === 'value',
        'SET XX GET returns the old value');
  check((await client.append('io:s', '+')) === 3, 'APPEND returns the new length');
  check((await client.strlen('io:s')) === 3, 'STRLEN');
  check((await client.getdel('io:s')) === 'v2+', 'GETDEL returns the value');
  check((await client.setnx('io:s', 'again')) === 1, 'SETNX on a removed key -> 1');
  const unicode = 'ключ-值-🔑';
  await client.set('io:unicode', unicode);
  check((await client.get('io:unicode')) === unicode, 'a UTF-8 string round-trips');

  const key = Buffer.concat([Buffer.from('io:bin\0\r\n'), Buffer.from([0xff, 0xfe])]);
  const value = Buffer.alloc(1024 + 3);
  for (let i = 0; i < value.length; i += 1) value[i] = i % 256;
  await client.set(key, value);
  const back = await client.getBuffer(key);
  check(Buffer.isBuffer(back) && back.equals(value), 'binary key and value round-trip (getBuffer)');
  await close(client);
}

async function checkMultiKey(port) {
  const client = await connect(port);
  const keys = Array.from({ length: 10 }, (_, i) => `io:m${i}`);
  const pairs = {};
  keys.forEach((key, i) => { pairs[key] = `v${i}`; });
  check((await client.mset(pairs)) === 'OK', 'MSET of 10 keys (object form)');
  const values = await client.mget(...keys, 'io:missing');
  check(JSON.stringify(values) === JSON.stringify([...keys.map((_, i) => `v${i}`), null]),
        'MGET of 10 keys and a missing one');
  check((await client.exists(...keys)) === 10, 'EXISTS counts 10 keys');
  check((await client.msetnx('io:m0', 'x', 'io:new', 'y')) === 0,
        'MSETNX with an existing key -> 0');
  check((await client.dbsize()) >= 10, 'DBSIZE');
  check((await client.del(...keys)) === 10, 'DEL of 10 keys -> 10');
  await close(client);
}

async function checkPipeline(port) {
  const client = await connect(port);
  const pipeline = client.pipeline();
  for (let i = 0; i < kPipelineCommands / 2; i += 1) {
    pipeline.set(`io:p${i}`, `value-${i}`);
    pipeline.get(`io:p${i}`);
  }
  const results = await pipeline.exec();
  check(results.length === kPipelineCommands,
        `pipeline() of ${kPipelineCommands} commands: ${kPipelineCommands} results`);
  const wrong = results.findIndex(([error, reply], index) =>
    error !== null || reply !== (index % 2 === 0 ? 'OK' : `value-${(index - 1) / 2}`));
  check(wrong === -1, `pipeline results in order, no errors${wrong === -1 ? '' : ` (index ${wrong})`}`);
  // Auto-pipelining: commands of one tick go out in one write.
  const auto = await connect(port, { enableAutoPipelining: true });
  const gets = [];
  for (let i = 0; i < 200; i += 1) gets.push(auto.get(`io:p${i}`));
  const replies = await Promise.all(gets);
  check(replies.every((reply, i) => reply === `value-${i}`), 'enableAutoPipelining: 200 GETs');
  await close(auto);
  await close(client);
}

async function checkClientName(port) {
  const client = await connect(port, { connectionName: 'io-on-connect' });
  check((await client.client('GETNAME')) === 'io-on-connect',
        'connectionName is sent on connect (CLIENT SETNAME)');
  check((await client.client('SETNAME', 'io-check')) === 'OK', 'CLIENT SETNAME');
  check((await client.client('GETNAME')) === 'io-check', 'CLIENT GETNAME returns it');
  check(Number.isInteger(await client.client('ID')), 'CLIENT ID is an integer');
  const list = await client.client('LIST');
  check(/ name=io-check /.test(list), 'CLIENT LIST shows the name');
  await close(client);
}

async function checkAuth(authPort, password) {
  // Without a password the ready check's INFO itself answers NOAUTH.
  const anonymous = newClient(authPort);
  try {
    await ready(anonymous);
    throw new Error('a client without a password became ready');
  } catch (error) {
    check(/NOAUTH/.test(error.message), `without a password: ${error.message}`);
  }
  anonymous.disconnect();
  const wrong = newClient(authPort, { password: `not-${password}` });
  try {
    await ready(wrong);
    throw new Error('a client with a wrong password became ready');
  } catch (error) {
    check(/WRONGPASS/.test(error.message), `a wrong password: ${error.message}`);
  }
  wrong.disconnect();
  const client = await connect(authPort, { password, connectionName: 'io-auth' });
  check((await client.ping()) === 'PONG', 'password option sends AUTH; ready; PING -> PONG');
  check((await client.set('io:auth', 'secret')) === 'OK' &&
        (await client.get('io:auth')) === 'secret', 'SET/GET after AUTH');
  check((await client.client('GETNAME')) === 'io-auth', 'AUTH and CLIENT SETNAME on connect');
  await close(client);
  const viaUrl = await ready(new Redis(`redis://:${password}@127.0.0.1:${authPort}`,
                                       { retryStrategy: () => null, connectTimeout: kTimeoutMs }));
  check((await viaUrl.ping()) === 'PONG', 'password in a redis:// URL; PING -> PONG');
  await viaUrl.quit();
}

runChecks('ioredis_check.js', `ioredis ${version} on node ${process.version}`,
          async (port, authPort, password) => {
            await checkBasics(port);
            await checkStrings(port);
            await checkMultiKey(port);
            await checkPipeline(port);
            await checkClientName(port);
            await checkAuth(authPort, password);
          });
