// A real OpenID provider for Gatehouse tests (panva/oidc-provider), loopback only.
//
//   node oidc-provider.mjs PORT [CLIENT_ID] [CLIENT_SECRET]
//
// Serves discovery at http://127.0.0.1:PORT/.well-known/openid-configuration, a JWKS with one
// fresh RS256 key, and a client-credentials client whose access tokens are JWTs for the resource
// "urn:gatehouse" with audience "gatehouse". Prints "READY http://127.0.0.1:PORT" once listening; exits when stdin
// closes (the parent test process died) or on SIGTERM/SIGINT.
//
// Authorization code + PKCE for the console's sign-in tests: clients register at /reg (dynamic registration,
// loopback only), a test arms the next login with POST /test/next-login {"subject", "claims"}, and the
// interaction page signs that subject in (login and consent at once) without a form. An unarmed interaction
// answers 403. The access token of a signed-in subject carries the armed claims.
import { createServer } from 'node:http';
import { generateKeyPairSync } from 'node:crypto';
import Provider from 'oidc-provider';

const port = Number.parseInt(process.argv[2] ?? '0', 10);
const clientId = process.argv[3] ?? 'gatehouse-test';
const clientSecret = process.argv[4] ?? 'gatehouse-test-secret';
const audience = 'gatehouse';
// Resource indicators must be absolute URIs; the token's aud is the resource server's audience.
const resource = 'urn:gatehouse';

if (!Number.isInteger(port) || port <= 0 || port > 65535) {
  console.error('usage: node oidc-provider.mjs PORT [CLIENT_ID] [CLIENT_SECRET]');
  process.exit(2);
}

const issuer = `http://127.0.0.1:${port}`;
const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'test-rs256-1', use: 'sig', alg: 'RS256' };

// Subjects the tests armed (a queue: each login takes one) and the claims of those who signed in.
const armed = [];
const accounts = new Map();

const provider = new Provider(issuer, {
  jwks: { keys: [jwk] },
  clients: [{
    client_id: clientId,
    client_secret: clientSecret,
    grant_types: ['client_credentials'],
    redirect_uris: [],
    response_types: [],
    token_endpoint_auth_method: 'client_secret_post',
  }],
  scopes: ['openid', 'read', 'write'],
  cookies: { keys: ['gatehouse-test-cookie-key'] },
  ttl: { ClientCredentials: 600, AccessToken: 600, IdToken: 600, AuthorizationCode: 60 },
  findAccount: (_ctx, id) => (accounts.has(id)
    ? { accountId: id, claims: () => ({ sub: id, ...accounts.get(id) }) }
    : undefined),
  pkce: { required: () => true },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    registration: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: () => resource,
      useGrantedResource: () => true,
      getResourceServerInfo: (_ctx, requested) => {
        if (requested !== resource) {
          throw new Provider.errors.InvalidTarget();
        }
        return {
          scope: 'read write',
          audience,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: 'RS256' } },
        };
      },
    },
  },
  extraTokenClaims: (_ctx, token) => {
    if (token.kind === 'ClientCredentials') {
      return { groups: ['ai-agents'], client_name: 'gatehouse test client' };
    }
    return token.accountId ? accounts.get(token.accountId) : undefined;
  },
});
provider.proxy = false;

async function readJson(req) {
  const chunks = [];
  for await (const chunk of req) chunks.push(chunk);
  return JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
}

// Signs the next armed subject in: login and consent (openid and the gatehouse resource) in one step.
async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  const next = armed.shift();
  if (!next) {
    res.statusCode = 403;
    res.end('no test login is armed (POST /test/next-login first)');
    return;
  }
  accounts.set(next.subject, next.claims ?? {});
  const grant = new provider.Grant({ accountId: next.subject, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope ?? 'openid'));
  grant.addResourceScope(resource, 'read write');
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: next.subject }, consent: { grantId } }, { mergeWithLastSubmission: false });
}

const callback = provider.callback();
const server = createServer((req, res) => {
  const fail = (error) => {
    console.error(error);
    if (!res.headersSent) res.statusCode = 500;
    res.end(String(error?.message ?? error));
  };
  if (req.method === 'POST' && req.url === '/test/next-login') {
    readJson(req).then((body) => {
      armed.push({ subject: String(body.subject), claims: body.claims ?? {} });
      res.statusCode = 204;
      res.end();
    }).catch(fail);
  } else if (req.url.startsWith('/interaction/')) {
    interaction(req, res).catch(fail);
  } else {
    callback(req, res);
  }
});
server.listen(port, '127.0.0.1', () => {
  console.log(`READY ${issuer}`);
});

let stopping = false;
function stop() {
  if (stopping) return;
  stopping = true;
  server.close(() => process.exit(0));
  server.closeAllConnections?.();
  setTimeout(() => process.exit(0), 2000).unref();
}
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
process.stdin.on('end', stop);
process.stdin.on('close', stop);
process.stdin.resume();
