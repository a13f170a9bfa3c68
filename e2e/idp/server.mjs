// Test OIDC issuer for the caddy-fedauth end-to-end tests, built on
// oidc-provider. Machine clients get the client-credentials grant, always
// with JWT access tokens (header typ "at+jwt"); people log in through the
// authorization code flow with PKCE (the "user" shape, oidc-provider's dev
// login and consent pages: any login and password). See ../README.md.
//
// Environment:
//   IDP_HOST        listen host (default 127.0.0.1)
//   IDP_PORT        listen port (default 9000; 0 picks a free port, printed
//                   in the ready line)
//   IDP_ISSUER      issuer URL (default <scheme>://<IDP_HOST>:<port>); must
//                   have no path
//   IDP_TLS_CERT, IDP_TLS_KEY
//                   PEM files; when both are set the server speaks HTTPS
//   IDP_ALG         RS256 (default) or ES256
//   IDP_JWKS_FILE   private JWKS file. Loaded if it exists, else a key is
//                   generated and written there. Re-read on SIGHUP.
//                   Without it a key is generated in memory (and a new one
//                   on SIGHUP). The first key usable with IDP_ALG signs;
//                   all keys are published at the jwks_uri.
//   IDP_TOKEN_TTL   access token lifetime in seconds (default 300)
//   IDP_CONFIG      path of a JSON config file (clients and audiences)
//   IDP_CONFIG_JSON the same config inline; IDP_CONFIG wins if both are set
//
// Config (all fields optional; defaults in DEFAULT_CONFIG below):
//   { "audiences": ["fed-gw.tenant1", ...],   // allowed Auth0-style audiences
//     "scopes": ["openfaas"],                 // scopes a token may carry
//     "clients": [{
//        "client_id": "...", "client_secret": "...",   // user: no secret
//        "shape": "keycloak" | "auth0" | "ci" | "user",
//        "audience": "...",     // keycloak: aud when none requested (default client_id)
//                               // auth0: default audience (default none: audience required)
//                               // ci: default audience (default https://github.com/<owner>,
//                               //     as GitHub Actions)
//        "audiences": [...],    // audiences this client may request
//                               // (keycloak default [audience]; auth0 and ci default
//                               //  top-level audiences)
//        "ci": {                // ci shape only: the job the token describes
//          "repository": "acme/app", "ref": "refs/heads/main",
//          "workflow": "deploy", "event_name": "push", "actor": "octocat",
//          "environment": "..."  // optional; makes sub repo:<repo>:environment:<env>
//        },
//        "redirect_uris": [...],// user shape only: loopback redirects (any port,
//                               // RFC 8252 §7.3; default
//                               // http://127.0.0.1:31111/oauth/callback)
//        "token_ttl": 300,      // per-client override of IDP_TOKEN_TTL
//        "header_typ": "at+jwt",// JWT header typ (Keycloak itself uses "JWT")
//        "extra_claims": {}     // merged into every access token payload
//     }] }
//
// The user shape is a public native client (faas-cli, `caddy fed-oidc
// login`): authorization code with PKCE S256 required, no secret, a
// loopback redirect. The login page takes any login and password; the
// account's sub is the login, with email <login>@example.com,
// email_verified, name and preferred_username, in the ID token (aud = the
// client id) for the scopes openid, email and profile.
//
// The ci shape mints GitHub-Actions-shaped tokens (see ciClaims): sub
// repo:<repository>:ref:<ref>, the job's claims (repository, ref, workflow,
// ...), no client_id, azp or scope, header typ JWT.
//
// Token endpoint extras (Auth0 compatibility): the form parameter
// "audience" is mapped onto an RFC 8707 resource indicator and back, so the
// token's aud is exactly the requested audience; a JSON request body is
// accepted like form parameters; /oauth/token is an alias of /token.

import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as http from 'node:http';
import * as https from 'node:https';
import * as querystring from 'node:querystring';

import Provider, { errors } from 'oidc-provider';

const DEFAULT_CONFIG = {
  audiences: ['fed-gw.tenant1', 'fed-gw.tenant2'],
  scopes: ['openfaas'],
  clients: [
    { client_id: 'fed-gw-tenant1', client_secret: 'fed-gw-tenant1-secret', shape: 'keycloak' },
    { client_id: 'fed-gw-tenant2', client_secret: 'fed-gw-tenant2-secret', shape: 'keycloak' },
    { client_id: 'provider-app', client_secret: 'provider-app-secret', shape: 'auth0' },
    { client_id: 'faas-cli', shape: 'user' },
  ],
};

// Non-URI audiences are carried as resource indicators with this prefix.
const AUD_PREFIX = 'urn:fedauth-e2e:audience:';

const SUPPORTED_ALGS = new Set(['RS256', 'ES256']);

const SHAPES = new Set(['keycloak', 'auth0', 'ci', 'user']);

// faas-cli pro auth's redirect; any loopback port matches it.
const DEFAULT_REDIRECT = 'http://127.0.0.1:31111/oauth/callback';

function die(msg) {
  console.error(`idp: ${msg}`);
  process.exit(2);
}

function loadConfig() {
  let raw;
  if (process.env.IDP_CONFIG) {
    raw = fs.readFileSync(process.env.IDP_CONFIG, 'utf8');
  } else if (process.env.IDP_CONFIG_JSON) {
    raw = process.env.IDP_CONFIG_JSON;
  }
  const cfg = { ...DEFAULT_CONFIG, ...(raw ? JSON.parse(raw) : {}) };
  const ttl = Number(process.env.IDP_TOKEN_TTL || cfg.token_ttl || 300);
  if (!Number.isSafeInteger(ttl) || ttl <= 0) die(`invalid token TTL ${ttl}`);

  const clients = new Map();
  for (const c of cfg.clients) {
    const shape = c.shape || 'keycloak';
    if (!c.client_id || (!c.client_secret && shape !== 'user')) die('every client needs client_id and client_secret');
    if (!SHAPES.has(shape)) die(`client ${c.client_id}: unknown shape ${shape}`);
    const ci = shape === 'ci' ? ciJob(c) : undefined;
    const audience = c.audience ?? { keycloak: c.client_id, ci: ci && `https://github.com/${ci.repository_owner}` }[shape];
    let { audiences } = c;
    if (!audiences) audiences = shape === 'keycloak' ? [audience] : cfg.audiences;
    if (audience && !audiences.includes(audience)) audiences = [audience, ...audiences];
    clients.set(c.client_id, {
      ...c,
      shape,
      audience,
      audiences: new Set(audiences),
      ci,
      token_ttl: Number(c.token_ttl || ttl),
      header_typ: c.header_typ || (shape === 'ci' ? 'JWT' : 'at+jwt'),
      extra_claims: c.extra_claims || {},
      redirect_uris: c.redirect_uris || [DEFAULT_REDIRECT],
    });
  }
  return { ttl, scopes: cfg.scopes || [], clients };
}

// ciJob fills in a ci client's job with GitHub's defaults and derived
// values. Every claim value is a string, as GitHub sends them.
function ciJob(c) {
  const job = { repository: 'acme/app', ref: 'refs/heads/main', workflow: 'deploy', event_name: 'push', actor: 'octocat', ...c.ci };
  const [owner] = job.repository.split('/');
  const ids = (s) => String(100000 + (crypto.createHash('sha256').update(s).digest().readUInt32BE(0) % 900000));
  const sha = crypto.createHash('sha1').update(`${job.repository}@${job.ref}`).digest('hex');
  const workflowRef = `${job.repository}/.github/workflows/${job.workflow}.yml@${job.ref}`;
  return {
    repository_owner: owner,
    repository_owner_id: ids(owner),
    repository_id: ids(job.repository),
    repository_visibility: 'private',
    actor_id: ids(job.actor),
    ref_type: job.ref.startsWith('refs/tags/') ? 'tag' : 'branch',
    ref_protected: 'false',
    sha,
    workflow_ref: workflowRef,
    workflow_sha: sha,
    job_workflow_ref: workflowRef,
    job_workflow_sha: sha,
    runner_environment: 'github-hosted',
    head_ref: '',
    base_ref: '',
    ...job,
  };
}

// ciClaims are a GitHub Actions token's claims for one run of the job.
// sub is GitHub's default format; ":" in its values is sent as %3A.
function ciClaims(job, run) {
  const esc = (v) => v.replaceAll(':', '%3A');
  let sub = `repo:${esc(job.repository)}:ref:${esc(job.ref)}`;
  if (job.environment) sub = `repo:${esc(job.repository)}:environment:${esc(job.environment)}`;
  else if (job.event_name === 'pull_request') sub = `repo:${esc(job.repository)}:pull_request`;
  return { sub, ...job, run_id: String(run), run_number: String(run), run_attempt: '1' };
}

function b64url(buf) {
  return Buffer.from(buf).toString('base64url');
}

// RFC 7638 JWK thumbprint, used as kid.
function thumbprint(jwk) {
  const members = jwk.kty === 'EC'
    ? { crv: jwk.crv, kty: jwk.kty, x: jwk.x, y: jwk.y }
    : { e: jwk.e, kty: jwk.kty, n: jwk.n };
  return b64url(crypto.createHash('sha256').update(JSON.stringify(members)).digest());
}

function generateKey(alg) {
  const { privateKey } = alg === 'ES256'
    ? crypto.generateKeyPairSync('ec', { namedCurve: 'P-256' })
    : crypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  const jwk = privateKey.export({ format: 'jwk' });
  return { ...jwk, kid: thumbprint(jwk), alg, use: 'sig' };
}

function algOfKey(jwk) {
  if (jwk.alg) return jwk.alg;
  return jwk.kty === 'EC' ? 'ES256' : 'RS256';
}

// Returns { alg, keys } for the provider.
function loadKeys() {
  const file = process.env.IDP_JWKS_FILE;
  let alg = process.env.IDP_ALG;
  if (alg && !SUPPORTED_ALGS.has(alg)) throw new Error(`IDP_ALG must be one of ${[...SUPPORTED_ALGS]}`);

  if (file && fs.existsSync(file)) {
    const { keys } = JSON.parse(fs.readFileSync(file, 'utf8'));
    if (!Array.isArray(keys) || keys.length === 0) throw new Error(`${file}: no keys`);
    for (const k of keys) {
      if (!k.d) throw new Error(`${file}: key ${k.kid || '?'} is not a private key`);
      k.kid ||= thumbprint(k);
    }
    alg ||= algOfKey(keys[0]);
    if (!keys.some((k) => algOfKey(k) === alg)) throw new Error(`${file}: no key for ${alg}`);
    return { alg, keys };
  }

  alg ||= 'RS256';
  const keys = [generateKey(alg)];
  if (file) {
    fs.writeFileSync(file, `${JSON.stringify({ keys }, null, 2)}\n`, { mode: 0o600 });
  }
  return { alg, keys };
}

function audienceToResource(aud) {
  // An absolute URI (e.g. https://api.example) is used as is; anything else
  // (e.g. fed-gw.tenant1) gets a URN prefix, since RFC 8707 resources must
  // be absolute URIs.
  return URL.canParse(aud) ? aud : AUD_PREFIX + encodeURIComponent(aud);
}

function resourceToAudience(resource) {
  return resource.startsWith(AUD_PREFIX)
    ? decodeURIComponent(resource.slice(AUD_PREFIX.length))
    : resource;
}

function buildProvider(issuer, cfg, keys) {
  const staticScopes = new Set(['openid', 'offline_access']);
  let runs = 0;

  const users = [...cfg.clients.values()].some((c) => c.shape === 'user');
  const provider = new Provider(issuer, {
    clients: [...cfg.clients.values()].map((c) => (c.shape === 'user'
      ? {
        // public: PKCE is then required (pkce.required's default)
        client_id: c.client_id,
        application_type: 'native',
        grant_types: ['authorization_code'],
        response_types: ['code'],
        redirect_uris: c.redirect_uris,
        token_endpoint_auth_method: 'none',
      }
      : {
        client_id: c.client_id,
        client_secret: c.client_secret,
        grant_types: ['client_credentials'],
        response_types: [],
        redirect_uris: [],
        // client_secret_post is accepted as well.
        token_endpoint_auth_method: 'client_secret_basic',
      })),
    jwks: { keys: keys.keys },
    cookies: { keys: [crypto.randomBytes(32).toString('hex')] },
    // the login page's account: any login
    async findAccount(ctx, sub) {
      return {
        accountId: sub,
        claims: () => ({
          sub, email: `${sub}@example.com`, email_verified: true, name: sub, preferred_username: sub,
        }),
      };
    },
    claims: {
      openid: ['sub'],
      email: ['email', 'email_verified'],
      profile: ['name', 'preferred_username'],
    },
    pkce: { required: () => true },
    // the scopes' claims in the ID token, as Keycloak and Auth0 put them
    conformIdTokenClaims: false,
    features: {
      // the login and consent pages, for the user shape
      devInteractions: { enabled: users },
      clientCredentials: { enabled: true },
      introspection: { enabled: true },
      resourceIndicators: {
        enabled: true,
        defaultResource(ctx, client, oneOf) {
          const c = cfg.clients.get(client.clientId);
          // a login asks for an ID token, not an API's access token
          if (c?.shape === 'user') return oneOf;
          if (!c?.audience) {
            // Auth0's answer when no audience is sent and none is configured.
            throw new errors.AccessDenied('No audience parameter was provided, and no default audience has been configured');
          }
          return audienceToResource(c.audience);
        },
        useGrantedResource: () => true,
        getResourceServerInfo(ctx, resource, client) {
          const c = cfg.clients.get(client.clientId);
          const audience = resourceToAudience(resource);
          if (!c || !c.audiences.has(audience)) {
            throw new errors.InvalidTarget(`audience ${JSON.stringify(audience)} is not allowed for client ${client.clientId}`);
          }
          const requested = String(ctx.oidc.params.scope || '').split(' ').filter((s) => s && !staticScopes.has(s));
          return {
            audience,
            scope: [...new Set([...cfg.scopes, ...requested])].join(' '),
            accessTokenTTL: c.token_ttl,
            accessTokenFormat: 'jwt',
            jwt: { sign: { alg: keys.alg } },
          };
        },
      },
    },
    formats: {
      customizers: {
        jwt(ctx, token, jwt) {
          const c = cfg.clients.get(token.clientId);
          if (!c || c.shape === 'user') return;
          if (c.shape === 'ci') {
            // GitHub's tokens name no OAuth client, and have nbf.
            delete jwt.payload.client_id;
            delete jwt.payload.scope;
            Object.assign(jwt.payload, ciClaims(c.ci, ++runs), { nbf: jwt.payload.iat });
          } else if (c.shape === 'auth0') {
            jwt.payload.azp = c.client_id;
            jwt.payload.sub = `${c.client_id}@clients`;
            jwt.payload.gty = 'client-credentials';
          } else {
            jwt.payload.azp = c.client_id;
            jwt.payload.typ = 'Bearer';
            jwt.payload.preferred_username = `service-account-${c.client_id}`;
          }
          Object.assign(jwt.payload, c.extra_claims);
          if (c.header_typ !== 'at+jwt') jwt.header = { ...jwt.header, typ: c.header_typ };
        },
      },
    },
    ttl: {
      ClientCredentials: (ctx, token) => token.resourceServer?.accessTokenTTL || cfg.ttl,
      AccessToken: (ctx, token) => token.resourceServer?.accessTokenTTL || cfg.ttl,
      IdToken: 300,
      Grant: 600,
      Interaction: 600,
      Session: 600,
      AuthorizationCode: 60,
      RefreshToken: 600,
      DeviceCode: 600,
      BackchannelAuthenticationRequest: 600,
    },
    enabledJWA: {
      idTokenSigningAlgValues: [...SUPPORTED_ALGS],
    },
    clientDefaults: { id_token_signed_response_alg: keys.alg },
    renderError(ctx, out) {
      ctx.type = 'json';
      ctx.body = out;
    },
  });

  // Auth0 compatibility on the token endpoint.
  provider.use(async (ctx, next) => {
    if (ctx.path === '/oauth/token') ctx.path = '/token';
    if (ctx.method === 'POST' && ctx.path === '/token' && ctx.is('application/x-www-form-urlencoded', 'application/json')) {
      const chunks = [];
      let size = 0;
      for await (const chunk of ctx.req) {
        size += chunk.length;
        if (size > 56 * 1024) ctx.throw(413, 'request entity too large');
        chunks.push(chunk);
      }
      const raw = Buffer.concat(chunks).toString('utf8');
      let body;
      try {
        body = ctx.is('application/json') ? JSON.parse(raw) : querystring.parse(raw);
      } catch {
        ctx.status = 400;
        ctx.body = { error: 'invalid_request', error_description: 'failed to parse the request body' };
        return;
      }
      if (body.audience !== undefined && body.resource === undefined) {
        const auds = [].concat(body.audience);
        body.resource = auds.length === 1 ? audienceToResource(String(auds[0])) : auds.map((a) => audienceToResource(String(a)));
      }
      delete body.audience;
      // oidc-provider reads an already consumed body from req.body.
      ctx.req.headers['content-type'] = 'application/x-www-form-urlencoded';
      ctx.req.body = querystring.stringify(body);
    }
    await next();
  });

  provider.on('server_error', (ctx, err) => console.error('idp: server_error', err));
  provider.on('grant.error', (ctx, err) => console.error(`idp: token error: ${err.message}${err.error_description ? ` (${err.error_description})` : ''}`));

  return provider;
}

function main() {
  const cfg = loadConfig();
  const host = process.env.IDP_HOST || '127.0.0.1';
  const port = Number(process.env.IDP_PORT ?? 9000);
  const tlsCert = process.env.IDP_TLS_CERT;
  const tlsKey = process.env.IDP_TLS_KEY;
  if (Boolean(tlsCert) !== Boolean(tlsKey)) die('set both IDP_TLS_CERT and IDP_TLS_KEY, or neither');
  const scheme = tlsCert ? 'https' : 'http';

  let handler = (req, res) => {
    res.statusCode = 503;
    res.end('starting\n');
  };
  const listener = (req, res) => handler(req, res);
  const server = tlsCert
    ? https.createServer({ cert: fs.readFileSync(tlsCert), key: fs.readFileSync(tlsKey) }, listener)
    : http.createServer(listener);

  server.on('error', (err) => die(err.message));
  server.listen(port, host, () => {
    const actualPort = server.address().port;
    const hostPart = host.includes(':') ? `[${host}]` : host;
    const issuer = process.env.IDP_ISSUER || `${scheme}://${hostPart}:${actualPort}`;
    if (new URL(issuer).pathname !== '/') die('IDP_ISSUER must not have a path');

    const start = () => {
      const keys = loadKeys();
      handler = buildProvider(issuer, cfg, keys).callback();
      return keys;
    };
    let keys;
    try {
      keys = start();
    } catch (err) {
      die(err.message);
    }
    const clients = [...cfg.clients.values()].map((c) => `${c.client_id}(${c.shape})`).join(',');
    console.log(`idp ready issuer=${issuer} port=${actualPort} alg=${keys.alg} kids=${keys.keys.map((k) => k.kid).join(',')} clients=${clients}`);

    process.on('SIGHUP', () => {
      try {
        const k = start();
        console.log(`idp keys reloaded alg=${k.alg} kids=${k.keys.map((x) => x.kid).join(',')}`);
      } catch (err) {
        console.error(`idp: key reload failed, keeping old keys: ${err.message}`);
      }
    });
  });

  const stop = (sig) => {
    console.log(`idp: ${sig}, shutting down`);
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
}

main();
