// GraphQL Code Generator: typed documents (client preset) for the operations in
// src/operations/, from the server's committed SDL. Regenerate with `npm run codegen`; CI fails
// when the committed src/gql/ differs from what this produces.
import type { CodegenConfig } from '@graphql-codegen/cli';

const config: CodegenConfig = {
  schema: '../../schema.graphql',
  documents: ['src/operations/*.graphql'],
  ignoreNoDocuments: false,
  generates: {
    './src/gql/': {
      preset: 'client',
      presetConfig: {
        // Plain result types: the SDK hands out plain objects, not masked fragments.
        fragmentMasking: false,
        // A trusted documents manifest (src/gql/persisted-documents.json: sha256 -> document)
        // for the server's TRUSTED_DOCUMENTS_FILE, and each document's hash in `__meta__`, so
        // the client can send `documentId` instead of the text.
        persistedDocuments: { hashAlgorithm: 'sha256' },
      },
      config: {
        // Documents as typed strings: the client needs no GraphQL runtime, only fetch.
        documentMode: 'string',
        useTypeImports: true,
        // `.js` in relative imports, as Node's ESM resolution requires.
        emitLegacyCommonJSImports: false,
        enumsAsTypes: true,
        strictScalars: true,
        scalars: {
          ID: 'string',
          // RFC 3339, UTC, as JSON carries it.
          DateTime: 'string',
        },
      },
    },
  },
};

export default config;
