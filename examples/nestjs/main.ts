/**
 * Runs the NestJS example (Redis on 127.0.0.1:6379):
 * `npx tsx --tsconfig examples/nestjs/tsconfig.json examples/nestjs/main.ts` (that tsconfig turns on
 * the decorators Nest uses), then
 * `curl -s -XPOST 127.0.0.1:3000/signup -H 'content-type: application/json' -d '{"name":"Ada"}'`.
 * `enableShutdownHooks()` makes SIGTERM close Nest, which drains running tasks before exiting.
 */
import 'reflect-metadata';
import { NestFactory } from '@nestjs/core';
import { AppModule } from './app.module.js';

const app = await NestFactory.create(AppModule, { logger: ['log', 'warn', 'error'] });
app.enableShutdownHooks();
await app.listen(Number(process.env.PORT ?? 3000), '127.0.0.1');
process.stdout.write(`listening ${await app.getUrl()}\n`);
