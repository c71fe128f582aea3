import { redirect } from 'next/navigation';
import { AccessError } from '@/lib/auth/access';
import { requirePageRole } from '@/lib/auth/server-identity';
import type { Identity } from '@/lib/auth/roles';

/** The signed-in identity of a collections page; a signed-out visitor goes to the sign-in page. */
export async function collectionsPageIdentity(): Promise<Identity> {
  try {
    return await requirePageRole('viewer');
  } catch (error) {
    if (error instanceof AccessError && error.status === 401) redirect('/login');
    throw error;
  }
}
