import { execFileSync } from 'node:child_process';
import path from 'node:path';

/**
 * Writes a throwaway self-signed certificate for 127.0.0.1 and localhost into `dir` (key.pem, cert.pem), made with the
 * openssl CLI: for https servers on 127.0.0.1 that oauth3 trusts only through its development escape hatch.
 */
export function selfSign(dir: string): void {
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'ec',
      '-pkeyopt',
      'ec_paramgen_curve:prime256v1',
      '-nodes',
      '-days',
      '1',
      '-keyout',
      path.join(dir, 'key.pem'),
      '-out',
      path.join(dir, 'cert.pem'),
      '-subj',
      '/CN=127.0.0.1',
      '-addext',
      'subjectAltName=IP:127.0.0.1,DNS:localhost',
    ],
    { stdio: 'ignore' },
  );
}
