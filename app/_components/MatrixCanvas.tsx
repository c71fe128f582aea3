'use client';
import { useEffect, useRef } from 'react';

/** A small rows x columns matrix drawn cell by cell on a canvas; `colourOf` maps a value to CSS. */
export function MatrixCanvas({ values, rows, columns, colourOf, cell = 6, label, onCell }: {
  values: ArrayLike<number>;
  rows: number;
  columns: number;
  colourOf: (value: number) => string;
  cell?: number;
  label: string;
  onCell?: (row: number, column: number) => void;
}) {
  const canvasRef = useRef<HTMLCanvasElement>(null);
  useEffect(() => {
    const context = canvasRef.current?.getContext('2d');
    if (!context) return;
    for (let row = 0; row < rows; row++) {
      for (let column = 0; column < columns; column++) {
        context.fillStyle = colourOf(values[row * columns + column]);
        context.fillRect(column * cell, row * cell, cell, cell);
      }
    }
  }, [values, rows, columns, colourOf, cell]);
  return (
    <canvas
      ref={canvasRef}
      className="matrix"
      width={columns * cell}
      height={rows * cell}
      role="img"
      aria-label={label}
      onMouseMove={(event) => {
        const column = Math.floor(event.nativeEvent.offsetX / cell);
        const row = Math.floor(event.nativeEvent.offsetY / cell);
        event.currentTarget.title = row < rows && column < columns ? `row ${row}, column ${column}: ${values[row * columns + column]?.toFixed(3)}` : '';
      }}
      onClick={(event) => onCell?.(Math.floor(event.nativeEvent.offsetY / cell), Math.floor(event.nativeEvent.offsetX / cell))}
    />
  );
}
