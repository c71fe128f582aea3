'use client';
import { useEffect, useState } from 'react';
import Link from 'next/link';
import type { CollectionSummary } from '@/lib/annotate/contracts';
import { collectionsApi } from '@/app/_annotations/api';

export function CollectionsIndex() {
  const [collections, setCollections] = useState<CollectionSummary[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    collectionsApi.list().then(({ collections }) => setCollections(collections), (reason: Error) => setError(reason.message));
  }, []);
  if (error) return <p className="error">{error}</p>;
  if (!collections) return <p className="muted">loading...</p>;
  if (collections.length === 0) return <p className="muted">No collections yet: a capture names its collection (--collection).</p>;
  return (
    <table data-testid="collections">
      <thead><tr><th>collection</th><th>traces</th><th>annotated</th><th>verdicts</th><th>overlap</th><th>blind</th><th>labels</th></tr></thead>
      <tbody>
        {collections.map((collection) => (
          <tr key={collection.name} data-collection={collection.name}>
            <td><Link href={`/collections/${encodeURIComponent(collection.name)}`}>{collection.name}</Link>{collection.description ? <small> {collection.description}</small> : null}</td>
            <td>{collection.traces}</td><td>{collection.annotatedTraces}</td><td>{collection.verdicts}</td>
            <td>{collection.overlap}</td>
            <td>{collection.blind ? 'yes' : 'no'}</td>
            <td>{collection.taxonomy.length}{collection.customTaxonomy ? ' (own)' : ' (default)'}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
