/** Value sets the chart tests share (helm.test.ts, helm-chart.test.ts, helm-real.test.ts). */

/** A production install: Postgres, Redis, the master key and two cookie keys. */
export const productionValues = {
  config: { issuer: 'https://auth.example.com' },
  secrets: {
    databaseUrl: 'postgres://oauth3:pw@db:5432/oauth3',
    redisUrl: 'redis://redis:6379/0',
    masterKey: 'q3y8cWq0r0mXq9X2nq5Gx0m4Jw4tL5b3kqX7v3c8s2A',
    cookieKeys: 'a-cookie-key-that-is-long-enough-0001,an-older-cookie-key-long-enough-0002',
  },
};

/** Everything a platform adds around the server: extra env, envFrom, volumes, mounts and a sidecar. */
export const extraValues = {
  extraEnv: [
    { name: 'PGSSLROOTCERT', value: '/certs/ca.crt' },
    { name: 'X_CLIENT_ID', valueFrom: { secretKeyRef: { name: 'x', key: 'id' } } },
  ],
  extraEnvFrom: [{ secretRef: { name: 'provider-credentials' } }],
  extraVolumes: [{ name: 'certs', secret: { secretName: 'db-ca' } }],
  extraVolumeMounts: [{ name: 'certs', mountPath: '/certs', readOnly: true }],
  sidecars: [{ name: 'db-proxy', image: 'proxy:1', args: ['--port=5432'] }],
};
