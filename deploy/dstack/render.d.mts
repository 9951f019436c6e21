/** Types of render.mjs, for the tests that import it (test/deployment/reproducible.test.ts). */
export interface AppCompose {
  [key: string]: string | number | boolean | string[];
  manifest_version: number;
  name: string;
  runner: string;
  docker_compose_file: string;
  allowed_envs: string[];
  kms_enabled: boolean;
  local_key_provider_enabled: boolean;
  key_provider_id: string;
  gateway_enabled: boolean;
  public_logs: boolean;
  public_sysinfo: boolean;
  public_tcbinfo: boolean;
  no_instance_id: boolean;
  secure_time: boolean;
}
export declare const TEMPLATE: string;
export declare const PLACEHOLDER: string;
export declare function imageRefProblem(ref: unknown): string | undefined;
export declare function imagesOf(compose: string): string[];
export declare function variablesOf(compose: string): string[];
export declare function renderAppCompose(
  image: string,
  options?: { template?: string; name?: string },
): { appCompose: AppCompose; json: string; hash: string };
