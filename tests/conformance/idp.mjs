// Local OpenID Provider for the conformance suite: panva's oidc-provider mounted under /idp on
// 127.0.0.1, issuing client-credentials JWT access tokens (RFC 9068, typ at+jwt) and ID tokens.
//
// Usage: node idp.mjs STATE_DIR [PORT]   (a PORT restarts the provider at the same issuer with new keys)
// Writes STATE_DIR/idp-signing-key.json (the private RSA JWK, so tokens.mjs can sign the token shapes
// the provider will not issue) and, once listening, STATE_DIR/idp.port.
import { randomBytes } from 'node:crypto';
import { writeFileSync, renameSync } from 'node:fs';
import http from 'node:http';
import path from 'node:path';

import { exportJWK, generateKeyPair } from 'jose';
import Provider from 'oidc-provider';

import { CLIENT_ID, CLIENT_SECRET, MOUNT, REDIRECT_URI, STS_RESOURCE, USER_SUB } from './idp-clients.mjs';

const [stateDir, fixedPort = '0'] = process.argv.slice(2);
if (!stateDir) {
  console.error('usage: node idp.mjs STATE_DIR [PORT]');
  process.exit(2);
}

// One key per type, so a token without `kid` still has exactly one candidate for its algorithm.
// ID tokens are ES256, access tokens RS256 (or EdDSA on request); tokens.mjs signs with the RSA key.
async function signingKey(alg, options) {
  const { privateKey } = await generateKeyPair(alg, { extractable: true, ...options });
  return { ...(await exportJWK(privateKey)), kid: randomBytes(8).toString('hex'), alg, use: 'sig' };
}
const rsaKey = await signingKey('RS256');
const keys = [rsaKey, await signingKey('ES256'), await signingKey('EdDSA', { crv: 'Ed25519' })];
writeFileSync(path.join(stateDir, 'idp-signing-key.json'), JSON.stringify(rsaKey), { mode: 0o600 });

// The issuer needs the port, so bind first and configure the provider afterwards.
const server = http.createServer();
await new Promise((resolve) => server.listen(Number(fixedPort), '127.0.0.1', resolve));
const { port } = server.address();
const issuer = `http://127.0.0.1:${port}${MOUNT}`;

const provider = new Provider(issuer, {
  clients: [
    {
      client_id: CLIENT_ID,
      client_secret: CLIENT_SECRET,
      grant_types: ['client_credentials', 'authorization_code'],
      response_types: ['code'],
      redirect_uris: [REDIRECT_URI],
      token_endpoint_auth_method: 'client_secret_post',
      id_token_signed_response_alg: 'ES256',
    },
  ],
  jwks: { keys },
  cookies: { keys: [randomBytes(32).toString('hex')] },
  findAccount: (_ctx, sub) => ({
    accountId: sub,
    claims: () => ({ sub, email: `${sub}@conformance.test`, groups: ['conformance'] }),
  }),
  claims: { openid: ['sub'], email: ['email'], groups: ['groups'] },
  scopes: ['openid', 'email', 'groups'],
  // Sign-in and consent are answered by /interaction below; the default HTML forms are not used.
  features: {
    devInteractions: { enabled: false },
    clientCredentials: { enabled: true },
    resourceIndicators: {
      enabled: true,
      defaultResource: (_ctx, _client, oneOf) => oneOf ?? STS_RESOURCE,
      useGrantedResource: () => true,
      // `<resource>:eddsa` asks for the same audience with an Ed25519 signature.
      getResourceServerInfo: (_ctx, resource) => {
        if (!resource.startsWith('urn:')) throw new Provider.errors.InvalidTarget();
        const eddsa = resource.endsWith(':eddsa');
        return {
          scope: 'sts',
          audience: eddsa ? resource.slice(0, -':eddsa'.length) : resource,
          accessTokenTTL: 600,
          accessTokenFormat: 'jwt',
          jwt: { sign: { alg: eddsa ? 'EdDSA' : 'RS256' } },
        };
      },
    },
  },
  // First-party client: consent is implied, so grant the requested scopes without a prompt.
  loadExistingGrant: async (ctx) => {
    const grant = new ctx.oidc.provider.Grant({
      clientId: ctx.oidc.client.clientId,
      accountId: ctx.oidc.session.accountId,
    });
    grant.addOIDCScope('openid email groups');
    await grant.save();
    return grant;
  },
  interactions: { url: (_ctx, interaction) => `${MOUNT}/interaction/${interaction.uid}` },
  ttl: { IdToken: 600, AccessToken: 600, ClientCredentials: 600, Interaction: 60, Session: 600, Grant: 600, AuthorizationCode: 60 },
});
provider.on('server_error', (_ctx, err) => console.error('idp server_error:', err.message));

const handle = provider.callback();
server.on('request', async (req, res) => {
  if (!req.url.startsWith(MOUNT)) {
    res.writeHead(404).end();
    return;
  }
  // oidc-provider derives its mount path from originalUrl versus url, as under Express.
  req.originalUrl = req.url;
  req.url = req.url.slice(MOUNT.length) || '/';
  if (req.url.startsWith('/interaction/')) {
    try {
      // The subject to sign in comes from the authorization request's login_hint.
      const { params } = await provider.interactionDetails(req, res);
      await provider.interactionFinished(req, res, { login: { accountId: params.login_hint || USER_SUB } });
    } catch (err) {
      res.writeHead(400, { 'content-type': 'text/plain' }).end(`interaction failed: ${err.message}`);
    }
    return;
  }
  handle(req, res);
});

const portFile = path.join(stateDir, 'idp.port');
writeFileSync(`${portFile}.tmp`, String(port));
renameSync(`${portFile}.tmp`, portFile);
console.log(`idp listening, issuer ${issuer}`);

const stop = () => server.close(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
