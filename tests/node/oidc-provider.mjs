// A real OpenID provider for Gatehouse tests (panva/oidc-provider), loopback only.
//
//   node oidc-provider.mjs PORT [CLIENT_ID] [CLIENT_SECRET]
//
// Serves discovery at http://127.0.0.1:PORT/.well-known/openid-configuration, a JWKS with one
// fresh RS256 key, and a client-credentials client whose access tokens are JWTs for the resource
// "urn:gatehouse" with audience "gatehouse". Prints "READY http://127.0.0.1:PORT" once listening; exits when stdin
// closes (the parent test process died) or on SIGTERM/SIGINT.
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
  ttl: { ClientCredentials: 600 },
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
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
  extraTokenClaims: (_ctx, token) => (token.kind === 'ClientCredentials'
    ? { groups: ['ai-agents'], client_name: 'gatehouse test client' }
    : undefined),
});
provider.proxy = false;

const server = provider.listen(port, '127.0.0.1', () => {
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
