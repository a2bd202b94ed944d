// GraphiQL for regsosek-gateway. The token lives only in the header editor of
// this page: it is never put in a URL, a cookie or local storage.
(function () {
  var root = document.getElementById("graphiql");
  var endpoint = root.getAttribute("data-endpoint");
  var fetcher = GraphiQL.createFetcher({ url: endpoint });
  var headers = JSON.stringify({ Authorization: "Bearer PASTE-YOUR-ACCESS-TOKEN-HERE" }, null, 2);
  var query = [
    "# 1. Get a token:  curl -s -u CLIENT_ID:CLIENT_SECRET -d grant_type=client_credentials " + location.origin + "/oauth/token",
    "# 2. Paste its access_token into the Headers tab below, then run this query.",
    "# Only the fields your program may read exist in this schema (see the Docs panel).",
    "{",
    "  myAccess { program agency purpose rowScope }",
    "}",
    "",
  ].join("\n");
  ReactDOM.createRoot(root).render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      defaultHeaders: headers,
      defaultQuery: query,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: false,
      defaultEditorToolsVisibility: "headers",
      storage: {
        getItem: function () { return null; },
        setItem: function () {},
        removeItem: function () {},
        clear: function () {},
        length: 0,
      },
    })
  );
})();
