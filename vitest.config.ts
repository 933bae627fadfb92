import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    // Suites talk to real Redis and RabbitMQ; leases and redeliveries take seconds, not milliseconds.
    testTimeout: 30_000,
    hookTimeout: 30_000,
  },
});
