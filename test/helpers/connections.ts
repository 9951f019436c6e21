/** One connected account as the console API lists it (GET /console/api/connections; src/console/areas/connections.ts). */
export interface ConnectionJson {
  id: string;
  provider: string;
  kind: string;
  label: string;
  status: 'active' | 'needs_relink';
  needs_relink: boolean;
  last_error: string | null;
  created_at: string;
  last_used_at: string | null;
}
