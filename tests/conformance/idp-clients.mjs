// Names shared by the local OpenID Provider and the scripts that ask it for tokens.
export const MOUNT = '/idp';
export const CLIENT_ID = 'conformance-client';
// A test-only secret for a provider that listens on 127.0.0.1 for the length of one run.
export const CLIENT_SECRET = 'conformance-client-secret-not-for-production';
export const REDIRECT_URI = 'http://127.0.0.1/callback';
// The resource (RFC 8707) that stsd accepts as an audience, and one it does not.
export const STS_RESOURCE = 'urn:stsd:conformance';
export const OTHER_RESOURCE = 'urn:other:api';
// The subject signed in through the authorization-code flow; trust policies name it.
export const USER_SUB = 'alice';
