'use client';
import { useState } from 'react';
import { useRouter } from 'next/navigation';
import { curationApi } from '@/app/_annotations/api';

export function RestoreButton({ traceId }: { traceId: string }) {
  const router = useRouter();
  const [error, setError] = useState<string | null>(null);
  return (
    <>
      <button type="button" onClick={() => curationApi.restore(traceId).then(() => router.refresh(), (reason: Error) => setError(reason.message))}>restore</button>
      {error ? <span className="error"> {error}</span> : null}
    </>
  );
}
