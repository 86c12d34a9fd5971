// Groups encoded messages into produce requests that each stay under a byte budget, in order.
// The broker checks every partition's record batch against the topic's max.message.bytes (after
// compression); a request whose uncompressed payload is under the budget cannot have a batch over it.
// A message that alone exceeds its topic's budget is not added: the caller routes it elsewhere.
import type { Message } from 'kafkajs';

/** Bytes a message adds to a record batch, uncompressed: key, value, headers and the record framing. */
export function messageBytes(m: Message): number {
  let n = 32; // record overhead: length, attributes, timestamp and offset deltas, varints
  if (m.key) n += typeof m.key === 'string' ? Buffer.byteLength(m.key) : m.key.length;
  if (m.value) n += typeof m.value === 'string' ? Buffer.byteLength(m.value) : m.value.length;
  for (const [k, v] of Object.entries(m.headers ?? {})) {
    n += Buffer.byteLength(k) + 8;
    if (typeof v === 'string') n += Buffer.byteLength(v);
    else if (Buffer.isBuffer(v)) n += v.length;
  }
  return n;
}

/** What a batch of max.message.bytes can carry once the record batch's own header (61 bytes) and a margin are left. */
export function budgetFor(maxMessageBytes: number): number {
  return maxMessageBytes - Math.min(16 * 1024, Math.floor(maxMessageBytes / 8));
}

export interface ProduceRequest {
  topicMessages: { topic: string; messages: Message[] }[];
  bytes: number;
}

export class ProduceBatcher {
  private requests: ProduceRequest[] = [];
  private current: ProduceRequest = { topicMessages: [], bytes: 0 };
  private readonly budget: number;

  /** `budget`: the smallest budget of the topics written (one request may span topics). */
  constructor(budget: number) {
    this.budget = budget;
  }

  /** Adds a message after the ones before it; false when it alone is over the budget (not added). */
  add(topic: string, message: Message): boolean {
    const bytes = messageBytes(message);
    if (bytes > this.budget) return false;
    if (this.current.bytes + bytes > this.budget) this.cut();
    const last = this.current.topicMessages[this.current.topicMessages.length - 1];
    if (last && last.topic === topic) last.messages.push(message);
    else this.current.topicMessages.push({ topic, messages: [message] });
    this.current.bytes += bytes;
    return true;
  }

  /** Ends the current request: what follows goes into a new one. */
  cut(): void {
    if (this.current.topicMessages.length > 0) this.requests.push(this.current);
    this.current = { topicMessages: [], bytes: 0 };
  }

  /** The requests, in order; the batcher is empty afterwards. */
  take(): ProduceRequest[] {
    this.cut();
    const out = this.requests;
    this.requests = [];
    return out;
  }
}
