/**
 * qtasks inside a NestJS application: the app is built from Nest's DI (options from a config
 * provider, the Redis plugin included), the task is a method of a provider that uses its own
 * injected dependency, and a controller enqueues it through a typed handle.
 *
 * Constructor parameters name their tokens with @Inject(...): that works with every TypeScript
 * compiler, including tsx and esbuild, which do not emit decorator metadata.
 */
import 'reflect-metadata';
import { Body, Controller, Inject, Injectable, Module, Post } from '@nestjs/common';
import type { TaskContext } from '../../core/index.js';
import { InjectTask, QtasksModule, Task, type TaskRef } from '../../nestjs/index.js';
import { redis } from '../../plugins/redis/index.js';

/** What a config service would hold. */
export class QueueConfig {
  constructor(
    readonly appName = process.env.QTASKS_APP ?? 'nest-example',
    readonly redisUrl = process.env.REDIS_URL ?? 'redis://127.0.0.1:6379',
  ) {}
}

@Module({ providers: [{ provide: QueueConfig, useFactory: () => new QueueConfig() }], exports: [QueueConfig] })
export class ConfigModule {}

/** A dependency of the task's provider (a mailer, a repository...). */
@Injectable()
export class Templates {
  render(name: string): string {
    return `Welcome, ${name}!`;
  }
}

@Injectable()
export class WelcomeService {
  constructor(@Inject(Templates) private readonly templates: Templates) {}

  /** Runs in the worker, with this provider's dependencies. */
  @Task({ name: 'welcome', retry: 2 })
  async welcome(name: string, delayMs: number): Promise<string> {
    await new Promise((resolve) => setTimeout(resolve, delayMs));
    return this.templates.render(name);
  }

  @Task({ name: 'whoami', echo: true })
  whoami(ctx: TaskContext): string {
    return `${ctx.app.name} attempt ${ctx.attempt}`;
  }
}

@Controller()
export class SignupController {
  constructor(@InjectTask(WelcomeService, 'welcome') private readonly welcome: TaskRef<WelcomeService, 'welcome'>) {}

  /** Enqueues and waits for the result; `delayMs` lets the demo keep a task running. */
  @Post('signup')
  async signup(@Body() body: { name: string; delayMs?: number }): Promise<{ id: string; status: string; message: string | undefined }> {
    const record = await this.welcome.addTask([body.name, body.delayMs ?? 0], { timeout: 30_000 });
    return { id: record.id, status: record.status, message: record.returning };
  }
}

@Module({
  imports: [
    ConfigModule,
    QtasksModule.forRootAsync({
      imports: [ConfigModule],
      inject: [QueueConfig],
      useFactory: (config: QueueConfig) => ({
        name: config.appName,
        plugins: [redis({ url: config.redisUrl })],
        config: { stopTimeoutMs: 20_000 },
      }),
    }),
    QtasksModule.forFeature([WelcomeService]),
  ],
  providers: [Templates, WelcomeService],
  controllers: [SignupController],
})
export class AppModule {}
