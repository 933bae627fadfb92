// examples/workflows.ts, run for real on memory and Redis.
import { afterAll, describe, expect, it } from 'vitest';
import { createImagesApp } from '../../examples/workflows.js';
import { workflowBrokers } from './brokers.js';

const brokers = workflowBrokers();
const stops: Array<() => Promise<void>> = [];
afterAll(async () => {
  await Promise.allSettled(stops.map((s) => s()));
  await brokers.cleanup();
});

describe.each(brokers.setups.slice(0, 2))('examples/workflows.ts on $name', (setup) => {
  it('resizes 50 images, then zips them; zips then notifies', async () => {
    const name = brokers.appName('example');
    const images = createImagesApp(name, setup.plugins(name));
    stops.push(() => images.app.stop());
    await images.app.start();
    const urls = Array.from({ length: 50 }, (_, i) => `img${i}.png`);
    const sent = await images.thumbnails(urls).addTask();
    const done = await images.app.wait(sent.id, 20_000);
    expect(done.returning).toEqual({ archive: 'thumbs.zip', files: 50 });
    const chained = await images.zipThenNotify(['a-200.png']).addTask({ timeout: 20_000 });
    expect(chained.returning).toBe('sent thumbs.zip (1 files)');
  });
});
