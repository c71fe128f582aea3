/**
 * `cotscope users ...` and `cotscope audit`: accounts and the audit log, for admins (the operator's
 * shell, or COTSCOPE_TOKEN of an admin). Every change is audited.
 */
import { parseArgs } from 'node:util';
import { openStore, type Store } from '../store/index';
import { listUsers } from '../auth/accounts';
import { adminAddUser, adminCreateToken, adminRemoveUser, adminRevokeToken, adminSetPassword, adminSetRole } from '../auth/admin';
import { actorOf, listAudit } from '../auth/audit';
import { isRole, ROLES, type Identity, type Role } from '../auth/roles';
import { readStdin, requireCliRole } from './access';

const USERS_HELP = `usage: cotscope users add NAME --role ${ROLES.join('|')} [--password-stdin]
       cotscope users list [--json]
       cotscope users set-role NAME ROLE
       cotscope users set-password NAME --password-stdin
       cotscope users remove NAME
       cotscope users token NAME [--name LABEL]      prints a new API token once
       cotscope users revoke-token ID|LABEL [--user NAME]

Roles: viewer (final answers, filtered reasoning, routing) < annotator (+ raw reasoning)
< researcher (+ live runs, capture, filter runs, raw exports) < admin (+ users, tokens, audit).
The first user turns local mode off: add an admin first.`;

const AUDIT_HELP = `usage: cotscope audit [--limit N] [--action ACTION] [--actor NAME] [--since DATE] [--json]`;

function parseRole(value: string | undefined): Role {
  if (value === undefined || !isRole(value)) throw new Error(`role must be one of ${ROLES.join(', ')} (got ${JSON.stringify(value ?? '')})`);
  return value;
}

async function withAdmin<T>(body: (store: Store, identity: Identity) => Promise<T>): Promise<T> {
  const store = await openStore();
  try {
    return await body(store, await requireCliRole(store, 'admin'));
  } finally {
    await store.close();
  }
}

function one(positionals: string[], what: string): string {
  if (positionals.length !== 1) throw new Error(`expected ${what}\n\n${USERS_HELP}`);
  return positionals[0];
}

export async function runUsersCommand(argv: string[]): Promise<number> {
  const [subcommand, ...rest] = argv;
  const { values, positionals } = parseArgs({
    args: rest, strict: true, allowPositionals: true,
    options: {
      role: { type: 'string' }, 'password-stdin': { type: 'boolean', default: false }, name: { type: 'string' },
      user: { type: 'string' }, json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (!subcommand || subcommand === '--help' || values.help) { console.log(USERS_HELP); return 0; }
  return withAdmin(async (store, identity) => {
    const actor = actorOf(identity);
    switch (subcommand) {
      case 'add': {
        const name = one(positionals, 'one user name');
        const role = parseRole(values.role);
        const password = values['password-stdin'] ? await readStdin() : undefined;
        await adminAddUser(store.backend, actor, { name, role, password });
        console.log(`user ${name} added as ${role}${password === undefined ? ' (no password: give them a token with `cotscope users token`)' : ''}`);
        return 0;
      }
      case 'list': {
        const users = await listUsers(store.backend);
        if (values.json) { process.stdout.write(`${JSON.stringify(users)}\n`); return 0; }
        if (users.length === 0) console.log('no users: the workbench runs in local mode');
        for (const user of users) {
          console.log(`${user.name.padEnd(20)} ${user.role.padEnd(10)} ${user.hasPassword ? 'password' : 'no password'}  created ${user.createdAt.slice(0, 10)}`);
          for (const token of user.tokens) {
            const state = token.revokedAt ? `revoked ${token.revokedAt.slice(0, 19)}` : `last used ${token.lastUsedAt?.slice(0, 19) ?? 'never'}`;
            console.log(`    token ${token.id}  ${token.name.padEnd(16)} ${state}`);
          }
        }
        return 0;
      }
      case 'set-role': {
        if (positionals.length !== 2) throw new Error(`set-role takes NAME ROLE\n\n${USERS_HELP}`);
        const role = parseRole(positionals[1]);
        const before = await adminSetRole(store.backend, actor, positionals[0], role);
        console.log(`${positionals[0]}: ${before} -> ${role} (their sessions were ended)`);
        return 0;
      }
      case 'set-password': {
        const name = one(positionals, 'one user name');
        if (!values['password-stdin']) throw new Error('set-password reads the password from stdin: pass --password-stdin');
        await adminSetPassword(store.backend, actor, name, await readStdin());
        console.log(`${name}: password set (their sessions were ended)`);
        return 0;
      }
      case 'remove': {
        const name = one(positionals, 'one user name');
        await adminRemoveUser(store.backend, actor, name);
        console.log(`user ${name} removed with their tokens and sessions`);
        return 0;
      }
      case 'token': {
        const name = one(positionals, 'one user name');
        const label = values.name ?? 'token';
        const { id, token } = await adminCreateToken(store.backend, actor, name, label);
        console.error(`token ${id} (${label}) for ${name}; it is shown once, only its hash is stored:`);
        console.log(token);
        return 0;
      }
      case 'revoke-token': {
        const idOrLabel = one(positionals, 'a token id or label');
        const count = await adminRevokeToken(store.backend, actor, idOrLabel, values.user);
        console.log(`${count} token(s) revoked`);
        return 0;
      }
      default:
        console.error(`unknown users command "${subcommand}"\n\n${USERS_HELP}`);
        return 2;
    }
  });
}

export async function runAuditCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({
    args: argv, strict: true,
    options: {
      limit: { type: 'string', default: '100' }, action: { type: 'string' }, actor: { type: 'string' }, since: { type: 'string' },
      json: { type: 'boolean', default: false }, help: { type: 'boolean', default: false },
    },
  });
  if (values.help) { console.log(AUDIT_HELP); return 0; }
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new Error(`--limit must be a positive integer (got "${values.limit}")`);
  const since = values.since ? new Date(values.since) : undefined;
  if (since && Number.isNaN(since.getTime())) throw new Error(`--since must be a date (got "${values.since}")`);
  return withAdmin(async (store) => {
    const records = await listAudit(store.backend, { limit, action: values.action, actor: values.actor, since });
    if (values.json) { process.stdout.write(`${JSON.stringify(records)}\n`); return 0; }
    if (records.length === 0) console.log('no audit events match');
    for (const record of records) {
      console.log([record.at.replace('T', ' ').slice(0, 23), record.action.padEnd(22), record.actor, record.target ?? '', record.detail ? JSON.stringify(record.detail) : ''].join('  ').trimEnd());
    }
    return 0;
  });
}
