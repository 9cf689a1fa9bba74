// Client-compatibility check: node-redis 4.x (npm package `redis`, pinned in
// package.json).
//
// Usage: node node_redis_check.mjs PORT AUTH_PORT PASSWORD
//
// PORT is a fresh server without a password, AUTH_PORT one with
// `requirepass` set to PASSWORD; both on 127.0.0.1. Prints one line per
// check and exits 1 at the first error or mismatch. An 'error' event from a
// client (a socket or handshake failure node-redis would otherwise retry
// forever) fails the check too. The whole run is bounded by a watchdog.
import { createRequire } from 'node:module';
import { createClient } from 'redis';

const require = createRequire(import.meta.url);
const version = require('redis/package.json').version;
const { kTimeoutMs, kPipelineCommands, check, close, runChecks } = require('./check_common.js');

// Records the client's 'error' events, which close() turns into a failure,
// and never reconnects: a compatible server needs no retries.
async function connect(url, options = {}) {
  const client = createClient({
    url,
    socket: { connectTimeout: kTimeoutMs, reconnectStrategy: false },
    ...options,
  });
  client.clientErrors = [];
  client.on('error', (error) => client.clientErrors.push(error));
  await client.connect();
  return client;
}

async function checkBasics(url) {
  const client = await connect(url);
  check(client.isReady, 'connect: ready (CLIENT SETINFO and friends accepted or ignored)');
  check((await client.ping()) === 'PONG', 'PING -> PONG');
  check((await client.echo('hello')) === 'hello', 'ECHO round-trips');
  const info = await client.info();
  check(/^redis_version:/m.test(info) && /^loading:0\r?$/m.test(info),
        'INFO has redis_version and loading:0');
  const clientInfo = await client.sendCommand(['CLIENT', 'INFO']);
  // CLIENT SETINFO is Redis 7.2+; where the server records it, it must say
  // node-redis.
  if (/ lib-name=/.test(clientInfo)) {
    check(/ lib-name=node-redis /.test(clientInfo) && / lib-ver=\S+/.test(clientInfo),
          'CLIENT INFO shows lib-name=node-redis from CLIENT SETINFO');
  } else {
    console.log('  note: the server does not record CLIENT SETINFO (Redis < 7.2)');
  }
  await close(client);
}

async function checkStrings(url) {
  const client = await connect(url);
  check((await client.set('node:s', 'value')) === 'OK', 'SET -> OK');
  check((await client.get('node:s')) === 'value', 'GET returns the value');
  check((await client.get('node:missing')) === null, 'GET of a missing key -> null');
  check((await client.set('node:s', 'other', { NX: true })) === null,
        'SET NX on an existing key -> null');
  check((await client.set('node:s', 'v2', { XX: true, GET: true })) === 'value',
        'SET XX GET returns the old value');
  check((await client.append('node:s', '+')) === 3, 'APPEND returns the new length');
  check((await client.strLen('node:s')) === 3, 'STRLEN');
  check((await client.getDel('node:s')) === 'v2+', 'GETDEL returns the value');
  check((await client.setNX('node:s', 'again')) === true, 'SETNX on a removed key -> true');
  const unicode = 'ключ-值-🔑';
  await client.set('node:unicode', unicode);
  check((await client.get('node:unicode')) === unicode, 'a UTF-8 string round-trips');

  // Binary-safe: Buffers in, Buffers out (commandOptions returnBuffers).
  const key = Buffer.concat([Buffer.from('node:bin\0\r\n'), Buffer.from([0xff, 0xfe])]);
  const value = Buffer.alloc(1024 + 3);
  for (let i = 0; i < value.length; i += 1) value[i] = i % 256;
  await client.set(key, value);
  const back = await client.get(client.commandOptions({ returnBuffers: true }), key);
  check(Buffer.isBuffer(back) && back.equals(value), 'binary key and value round-trip as Buffers');
  await close(client);
}

async function checkMultiKey(url) {
  const client = await connect(url);
  const keys = Array.from({ length: 10 }, (_, i) => `node:m${i}`);
  check((await client.mSet(keys.map((key, i) => [key, `v${i}`]))) === 'OK', 'MSET of 10 keys');
  const values = await client.mGet([...keys, 'node:missing']);
  check(JSON.stringify(values) === JSON.stringify([...keys.map((_, i) => `v${i}`), null]),
        'MGET of 10 keys and a missing one');
  check((await client.exists(keys)) === 10, 'EXISTS counts 10 keys');
  check((await client.mSetNX({ 'node:m0': 'x', 'node:new': 'y' })) === false,
        'MSETNX with an existing key -> false');
  check((await client.del(keys)) === 10, 'DEL of 10 keys -> 10');
  await close(client);
}

async function checkPipelining(url) {
  const client = await connect(url);
  // node-redis writes every command issued in one tick in one batch: this is
  // its pipelining.
  const commands = [];
  for (let i = 0; i < kPipelineCommands / 2; i += 1) {
    commands.push(client.set(`node:p${i}`, `value-${i}`));
    commands.push(client.get(`node:p${i}`));
  }
  const replies = await Promise.all(commands);
  check(replies.length === kPipelineCommands,
        `Promise.all of ${kPipelineCommands} commands: ${kPipelineCommands} replies`);
  const wrong = replies.findIndex((reply, index) =>
    reply !== (index % 2 === 0 ? 'OK' : `value-${(index - 1) / 2}`));
  check(wrong === -1, `pipelined replies in order and correct${wrong === -1 ? '' : ` (index ${wrong})`}`);
  const batch = client.multi();  // execAsPipeline: no MULTI/EXEC is sent.
  for (let i = 0; i < 100; i += 1) batch.get(`node:p${i}`);
  const batchReplies = await batch.execAsPipeline();
  check(batchReplies.length === 100 && batchReplies[99] === 'value-99',
        'multi().execAsPipeline() of 100 GETs');
  await close(client);
}

async function checkClientName(url) {
  const client = await connect(url, { name: 'node-on-connect' });
  check((await client.clientGetName()) === 'node-on-connect',
        'name option is sent on connect (CLIENT SETNAME)');
  check((await client.clientSetName('node-check')) === 'OK', 'CLIENT SETNAME');
  check((await client.clientGetName()) === 'node-check', 'CLIENT GETNAME returns it');
  check(Number.isInteger(await client.clientId()), 'CLIENT ID is an integer');
  const list = await client.clientList();
  check(list.some((entry) => entry.name === 'node-check'), 'CLIENT LIST parses and shows the name');
  await close(client);
}

async function checkAuth(authUrl, password) {
  const anonymous = await connect(authUrl);
  try {
    await anonymous.get('node:auth');
    throw new Error('a command without AUTH was accepted');
  } catch (error) {
    check(/^NOAUTH/.test(error.message), `without a password: ${error.message}`);
  }
  anonymous.clientErrors.length = 0;
  await anonymous.disconnect();

  const url = new URL(authUrl);
  url.password = `not-${password}`;
  const wrong = createClient({
    url: url.href,
    socket: { connectTimeout: kTimeoutMs, reconnectStrategy: false },
  });
  wrong.on('error', () => {});
  try {
    await wrong.connect();
    await wrong.ping();
    throw new Error('a wrong password was accepted');
  } catch (error) {
    check(/^WRONGPASS/.test(error.message), `a wrong password: ${error.message}`);
  }
  if (wrong.isOpen) await wrong.disconnect();

  url.password = password;
  const client = await connect(url.href, { name: 'node-auth' });
  check((await client.ping()) === 'PONG', 'password in the URL sends AUTH; PING -> PONG');
  check((await client.set('node:auth', 'secret')) === 'OK' &&
        (await client.get('node:auth')) === 'secret', 'SET/GET after AUTH');
  check((await client.clientGetName()) === 'node-auth', 'AUTH and CLIENT SETNAME on connect');
  await close(client);
  const viaOption = await connect(authUrl, { password });
  check((await viaOption.ping()) === 'PONG', 'password option sends AUTH; PING -> PONG');
  await close(viaOption);
}

runChecks('node_redis_check.mjs', `node-redis ${version} on node ${process.version}`,
          async (port, authPort, password) => {
            const url = `redis://127.0.0.1:${port}`;
            const authUrl = `redis://127.0.0.1:${authPort}`;
            await checkBasics(url);
            await checkStrings(url);
            await checkMultiKey(url);
            await checkPipelining(url);
            await checkClientName(url);
            await checkAuth(authUrl, password);
          });
