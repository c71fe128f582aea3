import { collectionsPageIdentity } from './page-identity';
import { CollectionsIndex } from './_components/CollectionsIndex';

export const dynamic = 'force-dynamic';

/** Every collection with its review settings; each links to its queue and agreement page. */
export default async function CollectionsPage() {
  await collectionsPageIdentity();
  return (
    <>
      <h1>Collections</h1>
      <CollectionsIndex />
    </>
  );
}
