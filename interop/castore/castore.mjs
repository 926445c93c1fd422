// Drives castore itself, the TypeScript event-sourcing library, against the
// table an es test made, so that es's claim to share castore's layout is
// checked by running both, not only by reading castore's source.
//
// One JSON request on stdin, one JSON answer on stdout:
//   {"layout": "single" | "legacy", "table": "...", "eventStoreId": "Product",
//    "op": "push" | "pushGroup" | "get" | "list", ...}
// answers {"ok": ...} or {"error": {"name", "code", "message"}}: errors are
// answers, because the tests assert on them (a version conflict is one).
//
// The DynamoDB client takes everything from the environment, as the es tests
// do: AWS_ENDPOINT_URL_DYNAMODB, AWS_REGION and the access key, which
// DynamoDB Local uses to pick the set of tables a caller sees.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { EventStore, EventType } from '@castore/core';
import {
  DynamoDBSingleTableEventStorageAdapter,
  LegacyDynamoDBEventStorageAdapter,
} from '@castore/event-storage-adapter-dynamodb';

// The conformance model's Product (es_core::conformance::model), as a castore
// reducer: the state castore folds from es's events must equal es's own.
const reducer = (aggregate, event) => {
  const state = aggregate ?? {
    aggregateId: event.aggregateId,
    version: 0,
    on_hand: 0,
    notes: 0,
    discontinued: false,
  };
  const next = { ...state, version: event.version };
  switch (event.type) {
    case 'Restocked':
      next.on_hand += event.payload.amount;
      break;
    case 'Reserved':
      next.on_hand -= event.payload.quantity;
      break;
    case 'Noted':
      next.notes += 1;
      break;
    case 'Discontinued':
      next.discontinued = true;
      break;
    default:
      throw new Error(`unknown event type ${event.type}`);
  }
  return next;
};

const eventTypes = ['Restocked', 'Reserved', 'Noted', 'Discontinued'].map(
  (type) => new EventType({ type }),
);

// es's erasure test's Customer: a castore reducer knows nothing of sealed
// fields, and folds them as the opaque strings they are.
const customerReducer = (aggregate, event) => {
  const state = aggregate ?? { aggregateId: event.aggregateId, version: 0, email: null, plan: null };
  const next = { ...state, version: event.version };
  switch (event.type) {
    case 'Registered':
      next.email = event.payload.email;
      next.plan = event.payload.plan;
      break;
    default:
      throw new Error(`unknown event type ${event.type}`);
  }
  return next;
};

const models = {
  Product: { eventTypes, reducer },
  Customer: { eventTypes: [new EventType({ type: 'Registered' })], reducer: customerReducer },
};

const storeFor = (request, client) => {
  const options = { tableName: request.table, dynamoDBClient: client };
  const adapter =
    request.layout === 'legacy'
      ? new LegacyDynamoDBEventStorageAdapter(options)
      : new DynamoDBSingleTableEventStorageAdapter(options);
  const model = models[request.eventStoreId];
  if (model === undefined) throw new Error(`no model for ${request.eventStoreId}`);
  return new EventStore({
    eventStoreId: request.eventStoreId,
    eventTypes: model.eventTypes,
    reducer: model.reducer,
    eventStorageAdapter: adapter,
  });
};

const run = async (request) => {
  const client = new DynamoDBClient({});
  const store = storeFor(request, client);
  switch (request.op) {
    case 'push': {
      const pushed = [];
      for (const event of request.events) {
        const { event: stored } = await store.pushEvent(event);
        pushed.push(stored);
      }
      return pushed;
    }
    case 'pushGroup': {
      const { eventGroup } = await EventStore.pushEventGroup(
        ...request.events.map((event) => store.groupEvent(event)),
      );
      return eventGroup.map(({ event }) => event);
    }
    case 'get': {
      const { aggregate, events } = await store.getAggregate(request.aggregateId);
      return { aggregate: aggregate ?? null, events };
    }
    case 'list': {
      const ids = [];
      let pageToken;
      do {
        const page = await store.listAggregateIds({ limit: request.limit, pageToken });
        ids.push(...page.aggregateIds.map(({ aggregateId }) => aggregateId));
        pageToken = page.nextPageToken;
      } while (pageToken !== undefined);
      return ids;
    }
    default:
      throw new Error(`unknown op ${request.op}`);
  }
};

const chunks = [];
for await (const chunk of process.stdin) chunks.push(chunk);
const request = JSON.parse(Buffer.concat(chunks).toString('utf8'));
try {
  process.stdout.write(JSON.stringify({ ok: await run(request) }));
} catch (error) {
  process.stdout.write(
    JSON.stringify({
      error: { name: error?.name ?? null, code: error?.code ?? null, message: String(error?.message ?? error) },
    }),
  );
}
