import { hasRole } from '@/lib/auth/roles';
import { collectionsPageIdentity } from '../page-identity';
import { CollectionView } from '../_components/CollectionView';

export const dynamic = 'force-dynamic';

/** One collection: its review queue ("next trace for me"), progress, settings, taxonomy and agreement. */
export default async function CollectionPage({ params }: { params: Promise<{ name: string }> }) {
  const identity = await collectionsPageIdentity();
  const name = decodeURIComponent((await params).name);
  return (
    <>
      <h1>
        Collection <code>{name}</code>
      </h1>
      <CollectionView name={name} me={identity.name} canAnnotate={hasRole(identity, 'annotator')} canConfigure={hasRole(identity, 'researcher')} />
    </>
  );
}
