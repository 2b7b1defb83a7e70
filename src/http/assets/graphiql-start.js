// Starts GraphiQL on the plans-api playground page. Everything it loads is served by plans-api
// itself (no CDN), so the playground works offline and on intranets.
(function () {
  'use strict';

  var DEFAULT_QUERY = [
    '# Welcome to plans-api.',
    '#',
    '# Queries need no token (unless READ_ACCESS=authenticated). Mutations (createPlan,',
    '# updatePlan, deletePlan) need the admin token or an operator\'s JWT (made with',
    '# `plans-api token --operator N`): open "Headers" below and enter',
    '#   {"Authorization": "Bearer <token>"}',
    '# Headers are not saved in the browser.',
    '#',
    '# A page of plans, 10 at a time: for the next page, pass pageInfo.endCursor as $after.',
    '# Live lists: `subscription { plans(userId: 1) { id name } }` shows the list, then each',
    '# new list as it changes (over Server-Sent Events).',
    '',
    'query PlansPage($userId: Int, $connectionType: ConnectionType, $after: String) {',
    '  plansConnection(userId: $userId, connectionType: $connectionType, first: 10, after: $after) {',
    '    totalCount',
    '    pageInfo {',
    '      hasNextPage',
    '      endCursor',
    '    }',
    '    nodes {',
    '      id',
    '      userId',
    '      name',
    '      connectionType',
    '      priceCents',
    '      durationMinutes',
    '    }',
    '  }',
    '}',
    '',
  ].join('\n');

  var root = document.getElementById('graphiql');
  var endpoint = root.getAttribute('data-endpoint');
  var httpFetcher = GraphiQL.createFetcher({
    url: endpoint,
    // The server does not stream (@defer/@stream): plain JSON responses.
    enableIncrementalDelivery: false,
  });

  // Whether the operation to run is a subscription: the named one, else the first in the text.
  function isSubscription(params) {
    var text = (params.query || '').replace(/#[^\n]*/g, '');
    if (params.operationName) {
      return new RegExp('\\bsubscription\\s+' + params.operationName + '\\b').test(text);
    }
    return /^\s*subscription\b/.test(text);
  }

  // A subscription over GraphQL over Server-Sent Events (graphql-sse's distinct-connections mode):
  // each `next` event's payload, until `complete`. GraphiQL shows each as it arrives, and its stop
  // button ends the loop (which closes the connection).
  async function* subscribe(params, headers) {
    var abort = new AbortController();
    try {
      var response = await fetch(endpoint, {
        method: 'POST',
        headers: Object.assign({}, headers || {}, {
          accept: 'text/event-stream',
          'content-type': 'application/json',
        }),
        body: JSON.stringify(params),
        signal: abort.signal,
      });
      if (!response.ok || !response.body) {
        yield await response.json();
        return;
      }
      var reader = response.body.getReader();
      var decoder = new TextDecoder();
      var buffer = '';
      for (;;) {
        var chunk = await reader.read();
        if (chunk.done) return;
        buffer += decoder.decode(chunk.value, { stream: true });
        var end;
        while ((end = buffer.indexOf('\n\n')) >= 0) {
          var block = buffer.slice(0, end);
          buffer = buffer.slice(end + 2);
          var event = '';
          var data = [];
          block.split('\n').forEach(function (line) {
            if (line.indexOf('event:') === 0) event = line.slice(6).trim();
            else if (line.indexOf('data:') === 0) data.push(line.slice(5).replace(/^ /, ''));
          });
          if (event === 'complete') return;
          if (event === 'next') yield JSON.parse(data.join('\n'));
        }
      }
    } finally {
      abort.abort();
    }
  }

  function fetcher(params, options) {
    if (isSubscription(params)) return subscribe(params, options && options.headers);
    return httpFetcher(params, options);
  }

  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultQuery: DEFAULT_QUERY,
      isHeadersEditorEnabled: true,
      // Open the headers editor, where the bearer token goes.
      defaultEditorToolsVisibility: 'headers',
      // Keep the admin token out of localStorage.
      shouldPersistHeaders: false,
    })
  );
})();
