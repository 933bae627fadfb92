import { describe, expect, it } from 'vitest';
import { ErrorCodes, QTasksError, asQTasksError } from '../../core/index.js';
import { messageOf } from '../../core/errors.js';

describe('errors', () => {
  it('asQTasksError wraps a driver error with a code, keeping it as cause, and passes a QTasksError through', () => {
    const raw = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:1'), { code: 'ECONNREFUSED' });
    const wrapped = asQTasksError(raw, ErrorCodes.CONNECTION_FAILED, 'redis connect');
    expect(wrapped).toBeInstanceOf(QTasksError);
    expect(wrapped.code).toBe(ErrorCodes.CONNECTION_FAILED);
    expect(wrapped.message).toBe('redis connect: connect ECONNREFUSED 127.0.0.1:1');
    expect(wrapped.cause).toBe(raw);
    const own = new QTasksError(ErrorCodes.BROKER_UNAVAILABLE, 'down');
    expect(asQTasksError(own, ErrorCodes.PLUGIN_FAILED, 'x')).toBe(own);
  });

  it('messageOf describes values whose toJSON, toString and getters all throw', () => {
    const hostile = {
      toJSON() {
        throw new Error('no json');
      },
      toString() {
        throw new Error('no string');
      },
    };
    expect(typeof messageOf(hostile)).toBe('string');
    const err = new Error('x');
    Object.defineProperty(err, 'message', {
      get() {
        throw new Error('no message');
      },
    });
    expect(typeof messageOf(err)).toBe('string');
    expect(typeof messageOf(Object.create(null))).toBe('string');
  });
});
