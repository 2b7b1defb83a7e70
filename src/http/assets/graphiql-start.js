// Starts GraphiQL on the plans-api playground page. Everything it loads is served by plans-api
// itself (no CDN), so the playground works offline and on intranets.
(function () {
  'use strict';

  var DEFAULT_QUERY = [
    '# Welcome to plans-api.',
    '#',
    '# Queries need no token. Mutations (createPlan, deletePlan) need the admin token:',
    '# open "Headers" below and enter',
    '#   {"Authorization": "Bearer <ADMIN_TOKEN>"}',
    '# Headers are not saved in the browser.',
    '',
    'query Plans($userId: Int, $connectionType: ConnectionType) {',
    '  plans(userId: $userId, connectionType: $connectionType) {',
    '    id',
    '    userId',
    '    name',
    '    connectionType',
    '    priceCents',
    '    durationMinutes',
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
