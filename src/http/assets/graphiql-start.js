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
  var fetcher = GraphiQL.createFetcher({
    url: root.getAttribute('data-endpoint'),
    // The server does not stream (@defer/@stream): plain JSON responses.
    enableIncrementalDelivery: false,
  });

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
