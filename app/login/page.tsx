import { LoginForm } from './LoginForm';

export default function LoginPage() {
  return (
    <>
      <h1>Sign in</h1>
      <p className="muted">This workbench has users configured (COTSCOPE_USERS). Paste your access token.</p>
      <LoginForm />
    </>
  );
}
