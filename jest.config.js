/** Four projects: unit (no sockets, fake clock), integration (real gRPC server, fake provider over
 * loopback), e2e (the real Envoy binary, the local provider, faas-waker as a child process), kube
 * (a real Kubernetes control plane on loopback). */
const tsJest = ['ts-jest', { tsconfig: 'tsconfig.json' }];
const base = { testEnvironment: 'node', transform: { '^.+\\.ts$': tsJest }, moduleFileExtensions: ['ts', 'js', 'json'] };

module.exports = {
  // Global, not per project (Jest ignores it there): a generous bound, so a loaded machine only makes tests slower, never red.
  testTimeout: 60_000,
  projects: [
    { ...base, displayName: 'unit', testMatch: ['<rootDir>/test/unit/**/*.test.ts'] },
    { ...base, displayName: 'integration', testMatch: ['<rootDir>/test/integration/**/*.test.ts'] },
    { ...base, displayName: 'e2e', testMatch: ['<rootDir>/test/e2e/**/*.test.ts'], globalSetup: '<rootDir>/test/e2e/global-setup.ts' },
    // A real Kubernetes control plane (scripts/install-kube.mjs builds it into a cache outside the clone).
    { ...base, displayName: 'kube', testMatch: ['<rootDir>/test/kube/**/*.test.ts'], globalSetup: '<rootDir>/test/e2e/global-setup.ts' },
  ],
};
