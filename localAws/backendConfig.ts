/*
 * The app-config of a Backstage backend started on loopback beside the stand-ins here.
 */
/**
 * The `backend:` section of a local Backstage backend's app-config (the benchmark's, the
 * packaging test's): loopback only, an in-memory database, and a static access token the
 * clients send, whose subject names the caller in logs and audit records.
 */
export function backendConfigYaml(port: number, token: string, subject: string): string {
  return `
backend:
  baseUrl: http://127.0.0.1:${port}
  listen: { port: ${port}, host: 127.0.0.1 }
  database: { client: better-sqlite3, connection: ':memory:' }
  auth:
    externalAccess:
      - type: static
        options: { token: ${token}, subject: ${subject} }
`;
}
