import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';

import { composeServices } from '@apollo/composition';
import { Kind, parse } from 'graphql';

import { agendaTypeDefs } from './support/agenda-subgraph.mjs';
import { startService } from '../support/processes.mjs';
import { graphql } from '../support/sample.mjs';

describe('composition', { timeout: 30_000 }, () => {
  let service;
  let composed;

  before(async () => {
    service = await startService({ demo: true });
    const response = await graphql(service.graphqlUrl, '{ _service { sdl } }');
    assert.equal(response.errors, undefined);
    composed = composeServices([
      { name: 'rooms', url: service.graphqlUrl, typeDefs: parse(response.data._service.sdl) },
      { name: 'agenda', url: 'http://agenda.invalid/graphql', typeDefs: parse(agendaTypeDefs) },
    ]);
  });

  after(async () => {
    await service?.stop();
  });

  test('our SDL composes with a subgraph that extends RoomSession and references RoomParticipant, without errors or hints', () => {
    assert.deepEqual((composed.errors ?? []).map((error) => error.message), []);
    assert.deepEqual((composed.hints ?? []).map((hint) => hint.toString()), []);
  });

  test('RoomSession is an entity of both subgraphs, keyed by id', () => {
    assert.deepEqual(joinTypes(composed.supergraphSdl, 'RoomSession'), [
      { graph: 'AGENDA', key: 'id', resolvable: true },
      { graph: 'ROOMS', key: 'id', resolvable: true },
    ]);
  });

  test('RoomParticipant is resolved by us only and referenced by the other subgraph', () => {
    assert.deepEqual(joinTypes(composed.supergraphSdl, 'RoomParticipant'), [
      { graph: 'AGENDA', key: 'id', resolvable: false },
      { graph: 'ROOMS', key: 'id', resolvable: true },
    ]);
  });

  test('each subgraph contributes its own fields to the supergraph', () => {
    const sdl = composed.supergraphSdl;
    assert.deepEqual(fieldGraphs(sdl, 'RoomSession', 'agenda'), ['AGENDA']);
    assert.deepEqual(fieldGraphs(sdl, 'RoomSession', 'participants'), ['ROOMS']);
    assert.deepEqual(fieldGraphs(sdl, 'RoomParticipant', 'context'), ['ROOMS']);
    assert.deepEqual(fieldGraphs(sdl, 'Query', 'roomSession'), ['ROOMS']);
    assert.deepEqual(fieldGraphs(sdl, 'Query', 'featuredParticipant'), ['AGENDA']);
  });

  test('demand control: @cost and @listSize reach the supergraph, where Apollo Router prices operations', () => {
    const sdl = composed.supergraphSdl;
    const participants = fieldDirectives(sdl, 'RoomSession', 'participants');
    assert.deepEqual(participants.cost, { weight: 10 });
    assert.deepEqual(participants.listSize, {
      slicingArguments: ['first', 'last'],
      sizedFields: ['edges', 'nodes'],
      requireOneSlicingArgument: false,
    });
    for (const [type, field] of [['Query', 'rooms'], ['Query', 'roomSessions'], ['Query', 'roomParticipants'], ['Room', 'sessions']]) {
      assert.deepEqual(fieldDirectives(sdl, type, field).listSize?.slicingArguments, ['first', 'last'], `${type}.${field}`);
    }
    for (const [type, field] of [['Query', 'node'], ['Query', 'room'], ['RoomSession', 'room'], ['RoomParticipant', 'session']]) {
      assert.deepEqual(fieldDirectives(sdl, type, field).cost, { weight: 10 }, `${type}.${field}`);
    }
  });
});

/** The `@cost` and `@listSize` arguments on `type.field` in the supergraph, as plain values. */
function fieldDirectives(supergraphSdl, type, field) {
  const definition = typeDefinition(supergraphSdl, type).fields.find((f) => f.name.value === field);
  const value = (node) => (node.kind === Kind.LIST ? node.values.map(value) : node.kind === Kind.INT ? Number(node.value) : node.value);
  return Object.fromEntries(
    definition.directives
      .filter((d) => ['cost', 'listSize'].includes(d.name.value))
      .map((d) => [d.name.value, Object.fromEntries(d.arguments.map((a) => [a.name.value, value(a.value)]))]),
  );
}

function typeDefinition(supergraphSdl, name) {
  const definition = parse(supergraphSdl).definitions.find(
    (d) => d.kind === Kind.OBJECT_TYPE_DEFINITION && d.name.value === name,
  );
  assert.ok(definition, `the supergraph has no type ${name}`);
  return definition;
}

function directiveArguments(directive) {
  return Object.fromEntries(directive.arguments.map((arg) => [arg.name.value, arg.value.value]));
}

/** The `@join__type` directives on a type, as plain objects. */
function joinTypes(supergraphSdl, typeName) {
  return typeDefinition(supergraphSdl, typeName)
    .directives.filter((d) => d.name.value === 'join__type')
    .map(directiveArguments)
    .map(({ graph, key, resolvable = true }) => ({ graph, key, resolvable }));
}

/** The graphs a field's `@join__field` directives name. */
function fieldGraphs(supergraphSdl, typeName, fieldName) {
  const field = typeDefinition(supergraphSdl, typeName).fields.find((f) => f.name.value === fieldName);
  assert.ok(field, `the supergraph has no field ${typeName}.${fieldName}`);
  return field.directives
    .filter((d) => d.name.value === 'join__field')
    .map((d) => directiveArguments(d).graph);
}
